"""TF backend: frozen GraphDefs run in TensorFlow 2 graph mode."""
from redisai.backends import BackendError, gpu_index, require

tf = require("tensorflow", "TF")
VERSION = tf.__version__
# TF's own names (DataTypeString) where they differ from tf.DType.name.
TF_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


def tf_name(dtype):
    name = tf.as_dtype(dtype).name
    return TF_NAMES.get(name, name)


def relax_placeholders(graph_def):
    """The reference's C API fed [1,256] into a placeholder declared [256];
    Session.run checks declared shapes, so forget them."""
    for node in graph_def.node:
        if node.op == "Placeholder":
            node.attr["shape"].shape.CopyFrom(tf.TensorShape(None).as_proto())
            node.attr.pop("_output_shapes", None)


class Session:
    """A tf.compat.v1.Session over the imported graph (thread safe)."""

    def __init__(self, blob, device, inputs, outputs, settings):
        gpu = gpu_index(device)
        if gpu is not None and not tf.config.list_physical_devices("GPU"):
            raise BackendError("ERR GPU requested but TF couldn't find CUDA")
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(bytes(blob))
        except Exception:
            raise BackendError("Invalid GraphDef") from None
        nodes = {node.name for node in graph_def.node}
        for name in inputs:
            if name not in nodes:
                raise BackendError(f'ERR Input node named "{name}" not found in TF graph.')
        for name in outputs:
            if name not in nodes:
                raise BackendError(f'ERR Output node named "{name}" not found in TF graph')
        relax_placeholders(graph_def)
        graph = tf.Graph()
        try:
            with graph.as_default(), tf.device("/CPU:0" if gpu is None else f"/GPU:{gpu}"):
                tf.compat.v1.import_graph_def(graph_def, name="")
        except Exception as exc:
            raise BackendError(getattr(exc, "message", str(exc))) from None
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=settings.intra_op,
                                          inter_op_parallelism_threads=settings.inter_op,
                                          allow_soft_placement=True)
        self.session = tf.compat.v1.Session(graph=graph, config=config)
        self.feeds = [graph.get_tensor_by_name(f"{name}:0") for name in inputs]
        self.fetches = [graph.get_tensor_by_name(f"{name}:0") for name in outputs]
        self.feed_dtypes = [feed.dtype.as_numpy_dtype for feed in self.feeds]
        self.inputs = inputs
        self.outputs = outputs

    def run(self, arrays):
        # Session.run would cast a mismatching input silently; the reference's
        # C API refuses it, with this text.
        for i, (array, expected) in enumerate(zip(arrays, self.feed_dtypes)):
            if array.dtype != expected:
                raise BackendError(f"Expects arg[{i}] to be {tf_name(expected)} "
                                   f"but {tf_name(array.dtype)} is provided")
        try:
            return self.session.run(self.fetches, dict(zip(self.feeds, arrays)))
        except tf.errors.OpError as exc:
            raise BackendError(exc.message) from None
