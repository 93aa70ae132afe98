"""Under op determinism tf.data keeps the reader's pipeline parallel.

tf.data's make_deterministic rewrite runs every parallel map of a pipeline
sequentially, with prefetching off, as soon as any dataset function in it holds
a stateful op outside its list of deterministic ones (and logs a NodeDef error
for the rewritten maps). The reader's functions may hold only those.
"""

from tensorflow.core.framework import graph_pb2
from tensorflow.python.framework import op_def_registry

from common.data import reader
from common.data.default_datasets import default_dataset

# tensorflow/core/grappler/optimizers/data/make_deterministic.cc: stateful ops
# that stay deterministic when run asynchronously.
DETERMINISTIC_STATEFUL_OPS = {
    "TextLineDataset", "FixedLengthRecordDataset", "TFRecordDataset", "TensorSliceDataset", "RangeDataset",
    "SSTableDataset", "RecordIODataset", "RandomUniform", "RandomUniformInt", "RandomStandardNormal",
    "ParameterizedTruncatedNormal", "TruncatedNormal", "RandomShuffle", "Multinomial", "RandomGamma",
    "RandomGammaGrad", "RandomPoisson", "RandomCrop", "SampleDistortedBoundingBox", "SampleDistortedBoundingBoxV2",
    "Print", "Assert",
}
CONTROL_FLOW_OPS = {"If", "StatelessIf", "While", "StatelessWhile", "StatefulPartitionedCall", "PartitionedCall"}


def _stateful_ops_in_functions(dataset):
    graph = graph_pb2.GraphDef()
    graph.ParseFromString(dataset._as_serialized_graph().numpy())
    found = set()
    for function in graph.library.function:
        for node in function.node_def:
            op_def = op_def_registry.get(node.op)
            if op_def is not None and op_def.is_stateful and node.op not in CONTROL_FLOW_OPS:
                found.add(node.op)
    return found


def test_reader_functions_hold_only_deterministic_stateful_ops():
    for cache in (True, False):
        dataset = reader.load_dataset(default_dataset("digits"), batch_size=8, seed=0, image_size=16, channels=1,
                                      cache=cache)
        assert _stateful_ops_in_functions(dataset) <= DETERMINISTIC_STATEFUL_OPS
    pairs = reader.load_unpaired(default_dataset("two_domain"), batch_size=1, seed=0, image_size=32)
    assert _stateful_ops_in_functions(pairs) <= DETERMINISTIC_STATEFUL_OPS
