"""The base training models (`keras.Model` subclasses with a `train_step`) and the helpers of their steps.

A new family's shared training loop (a critic loop, a two-network update) goes
here; its layers and losses go to `common.nn`, its flags and run wiring to
`common.training`.
"""
