"""Running a training job: the runtime around `keras.Model.fit`, its config and flags, callbacks,
checkpoints, distribution, precision, and the train commands.

No math of a model lives here (that is `common.nn` / `common.models`); metrics of
sample quality live in `common.evaluation`.
"""
