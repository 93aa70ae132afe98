"""Math with no I/O: layers, losses and penalties, weight averaging, image pools, schedules, shared networks.

Everything here is a pure function or a Keras object (layer, schedule, network
builder) that reads no files and knows no flags; a training model goes to
`common.models`, anything that touches disk or the command line elsewhere.
"""
