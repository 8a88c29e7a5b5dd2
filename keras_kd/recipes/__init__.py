"""Recipes: tested ways to train a teacher and distill it so the student beats training alone.

`registry` names the recipes, `views` makes their augmented inputs,
`training` trains their teachers and students; `architectures` and `data`
are the models and datasets the command line builds and loads. Nothing here
starts TensorFlow until a function that needs it runs.
"""

from keras_kd.recipes.registry import DEFAULT_RECIPES, RECIPES, Recipe, get
from keras_kd.recipes.training import train_student, train_teacher, train_teachers
from keras_kd.recipes.views import mix, recorded_views, shift, training_data
