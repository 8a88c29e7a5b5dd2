"""The front door's configurations, measured outside the CLI: scratch vs distilled over seeds.

Trains (or reuses, from /tmp/keras_kd_front_teachers) an averaged ensemble of
`--teachers` CNNs on shifted digits of split `--split`, records `--views`
passes of the training images shifted by up to `--shift` pixels, and trains
the student on them from labels alone (a Distiller with alpha = 0) and by
distillation, from the same initial weights, for each of `--seeds` seeds.
Prints one JSON line: per-seed test accuracies, means, the lead in units of
the larger sample SD (ddof=1) and the share of the gap closed, with the
seconds spent on the teachers and on the six student fits. `--test-fraction`
sets the digits' held-out share (0.4, the CLI's split, by default);
`--distiller` passes more Distiller arguments (a JSON object) to the
distilled student, for the other logit losses.

Example (the shipped `consistent-ensemble` default on split 20):
    python benchmarks/front_door.py --split 20 --teachers 5 --teacher-epochs 60 \
        --shift 1 --views 30 --epochs 300 --spe 17
"""
import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
p = argparse.ArgumentParser()
p.add_argument("--split", type=int, default=0)
p.add_argument("--seeds", type=int, default=3)
p.add_argument("--teachers", type=int, default=3)
p.add_argument("--teacher-epochs", type=int, default=40)
p.add_argument("--teacher-arch", default="cnn-large")
p.add_argument("--student", default="mlp-medium")
p.add_argument("--shift", type=int, default=0)      # student views shift
p.add_argument("--views", type=int, default=1)
p.add_argument("--epochs", type=int, default=150)
p.add_argument("--T", type=float, default=4.0)
p.add_argument("--alpha", type=float, default=0.9)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--ema", type=float, default=0.0)
p.add_argument("--spe", type=int, default=1)
p.add_argument("--wd", type=float, default=0.0)
p.add_argument("--test-fraction", type=float, default=0.4)
p.add_argument("--mixup", type=float, default=0.0)  # the students' views' Beta(a, a) mixing
p.add_argument("--distiller", default="{}",
               help='more Distiller arguments for the distilled student, as JSON: '
                    '\'{"distillation_loss": "dist", "dist_beta": 2, "dist_gamma": 2}\'')
a = p.parse_args()
import keras
from keras_kd import Distiller
from keras_kd import recipes
from keras_kd.recipes import architectures, data as kdata
from keras_kd.recipes.registry import Recipe
from keras_kd.recipes.views import recorded_views
d = kdata.load_digits(test_fraction=a.test_fraction, seed=a.split)
t0 = time.time()
os.makedirs("/tmp/keras_kd_front_teachers", exist_ok=True)
tp = f"/tmp/keras_kd_front_teachers/{a.split}_{a.teacher_arch}_{a.teachers}_{a.teacher_epochs}_{a.test_fraction}.keras"
if os.path.exists(tp):
    teacher = keras.saving.load_model(tp, compile=False)
else:
    r = Recipe("t", teacher_shift=1, student_shift=0, mixup=0.0, temperature=4, alpha=0.9, epochs=1, teacher_epochs=a.teacher_epochs, teachers=a.teachers)
    build = lambda s: architectures.build(a.teacher_arch, d.input_shape, d.num_classes, seed=s)
    teacher = recipes.train_teachers(build, d.x_train, d.y_train, r, d.num_classes, seed=a.split)
    teacher.save(tp)
tt = time.time() - t0
def acc(m):
    return float(np.mean(np.argmax(m.predict(d.x_test, verbose=0, batch_size=1024), -1) == d.y_test))
tacc = acc(teacher)
sr = Recipe("s", teacher_shift=1, student_shift=a.shift, mixup=a.mixup, temperature=a.T, alpha=a.alpha, epochs=a.epochs, teacher_epochs=1, views=a.views, batch_size=a.batch)
res = {"scratch": [], "distilled": []}
t1 = time.time()
for seed in range(a.split, a.split + a.seeds):
    xv, yv = recorded_views(d.x_train, d.y_train, sr, d.num_classes, seed)
    passes = math.ceil(a.epochs / a.views)
    steps = passes * math.ceil(len(xv) / a.batch)
    for name, alpha in (("scratch", 0.0), ("distilled", a.alpha)):
        student = architectures.build(a.student, d.input_shape, d.num_classes, seed=seed)
        rate = keras.optimizers.schedules.CosineDecay(a.lr, decay_steps=steps)
        kw = dict(use_ema=bool(a.ema), ema_momentum=a.ema or 0.99)
        opt = keras.optimizers.AdamW(rate, weight_decay=a.wd, **kw) if a.wd else keras.optimizers.Adam(rate, **kw)
        keras.utils.set_random_seed(seed)
        extra = json.loads(a.distiller) if alpha else {}
        dist = Distiller(student, teacher, temperature=a.T, alpha=alpha, **extra)
        labels = keras.losses.CategoricalCrossentropy if a.mixup else keras.losses.SparseCategoricalCrossentropy
        dist.compile(opt, loss=labels(from_logits=True), steps_per_execution=a.spe)
        dist.fit(xv, yv, epochs=passes, batch_size=a.batch, shuffle=True, verbose=0)
        res[name].append(100 * acc(student))
ts = time.time() - t1
s, dd = np.array(res["scratch"]), np.array(res["distilled"])
sd = max(s.std(ddof=1), dd.std(ddof=1))
lead = dd.mean() - s.mean()
gap = lead / (100 * tacc - s.mean())
print(json.dumps(dict(args=vars(a), teacher=round(100*tacc,2), teacher_s=round(tt,1), students_s=round(ts,1),
      scratch=[round(v,2) for v in s], distilled=[round(v,2) for v in dd],
      sm=round(s.mean(),2), dm=round(dd.mean(),2), lead_sd=round(lead/sd,2) if sd>0 else None, gap=round(100*gap,1))))
