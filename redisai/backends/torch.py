"""TORCH backend: TorchScript archives through PyTorch."""
import io
import threading
import warnings

from redisai.backends import BackendError, gpu_index, require

torch = require("torch", "TORCH")
VERSION = torch.__version__

# torch's intra-op thread count is a per-thread setting: every worker thread
# must set it, or a busy box oversubscribes (35 us calls became 16 ms).
_thread_settings = threading.local()

# Inputs are read-only views of the keyspace tensors; forward() does not write
# them. (A filter set once: catch_warnings() per call is slow and not
# thread-safe.)
warnings.filterwarnings("ignore", message="The given NumPy array is not writable",
                        category=UserWarning)


def device_for(device):
    gpu = gpu_index(device)
    if gpu is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError("GPU requested but Torch couldn't find CUDA")
    return torch.device("cuda", gpu)


def output_count(return_type):
    """Outputs of a forward() return annotation: a Tensor is one, a Tuple its
    Tensor members, a List one (its length is only known when it runs)."""
    kind = return_type.kind()
    if kind == "TupleType":
        return sum(output_count(t) for t in return_type.elements())
    return 1 if kind in ("TensorType", "ListType") else 0


def set_interop_threads(settings):
    """INTER_OP_PARALLELISM: process-wide in torch, settable until the pool starts."""
    if settings.inter_op > 0 and torch.get_num_interop_threads() != settings.inter_op:
        try:
            torch.set_num_interop_threads(settings.inter_op)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None


class Session:
    """A TorchScript module; forward() may be called from several threads."""

    def __init__(self, blob, device, inputs, outputs, settings):
        self.device = device_for(device)
        self.intra_op = settings.intra_op
        set_interop_threads(settings)
        try:
            self.module = torch.jit.load(io.BytesIO(bytes(blob)), map_location=self.device)
        except Exception as exc:
            raise BackendError(str(exc)) from None
        self.module.eval()
        self.forward = self.module.forward
        self.cpu = self.device.type == "cpu"
        schema = self.forward.schema
        self.inputs = [a.name for a in schema.arguments[1:]]
        self.outputs = [""] * output_count(schema.returns[0].type) if schema.returns else []

    def run(self, arrays):
        configure_thread(self.intra_op)
        if self.cpu:
            tensors = [torch.from_numpy(a) for a in arrays]
        else:
            tensors = [torch.from_numpy(a).to(self.device) for a in arrays]
        try:
            # forward() itself: Module.__call__'s hook handling is Python code
            # on every call, and a loaded TorchScript module has no hooks.
            result = self.forward(*tensors)
        except Exception as exc:
            raise BackendError(str(exc)) from None
        flat = flat_outputs(result, "forward")
        if len(flat) != len(self.outputs):
            raise BackendError("Function returned unexpected number of outputs - forward")
        return [t.numpy() for t in flat] if self.cpu else [t.cpu().numpy() for t in flat]


def configure_thread(intra_op):
    """Once per worker thread (models and scripts): the intra-op thread count
    and grad mode (workers never need autograd; setting it once saves a
    no_grad() block per call)."""
    if getattr(_thread_settings, "done", False):
        return
    torch.set_num_threads(intra_op)
    torch.set_grad_enabled(False)
    _thread_settings.done = True


def flat_outputs(result, function):
    """A Tensor, or tuples and lists of them, as a flat list in order."""
    if isinstance(result, torch.Tensor):
        return [result]
    out = []
    _flatten(result, out, function)
    return out


def _flatten(value, out, function):
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out, function)
    else:
        raise BackendError(f"Function returned non-tensor values{function}")
