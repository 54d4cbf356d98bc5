"""TorchScript scripts (AI.SCRIPTSTORE / AI.SCRIPTSET / AI.SCRIPTEXECUTE / AI.SCRIPTRUN).

A script is a TorchScript compilation unit of free functions. Inside it, the
names `torch`, `redis` and `redisAI` (case-insensitive) are resolved; the last
two are operator namespaces registered here with Python implementations that
call back into the server through `host`.

Scripts must not reach files, the network or other libraries: after compiling,
every function's graph is checked against an allow-list of operator namespaces
and a deny-list of operators (see `_check_graph`).
"""
import builtins
import types

import numpy as np

from redisai.backends import BackendError
from redisai.backends import torch as torch_backend

torch = torch_backend.torch

host = None  # set by the compiled core: .execute(args) runs a Redis command, .model(key) gives a model's session


class HostError(Exception):
    """Raised by `host`: its text is Redis's error text (or why the call could not be made)."""


ENTRY_TYPES = ("List[Tensor]", "List[str]", "List[str]")
NO_STRINGS = "ERR STRING tensors cannot be used by scripts"
NON_TENSOR_OUTPUT = "ERR non-tensor output is not supported"

# --- the `redis` and `redisAI` operators ------------------------------------------------------
#
# CONSERVATIVE alias analysis: TorchScript must treat each call as having side
# effects, or it drops a call whose result is unused (`redis.execute("SET", ...)`).

_redis = torch.library.Library("redis", "DEF")
_redis.define("execute(str cmd, str[] args) -> Any", alias_analysis="CONSERVATIVE")
_redis.define("execute.noargs(str cmd) -> Any", alias_analysis="CONSERVATIVE")
_redis.define("asList(Any value) -> Any[]", alias_analysis="CONSERVATIVE")
_redisai = torch.library.Library("redisAI", "DEF")
_redisai.define("model_execute(str model_key, Tensor[] inputs, int num_outputs) -> Tensor[]",
                alias_analysis="CONSERVATIVE")


def _any(value):
    """A reply as TorchScript's `Any` can hold it: an array becomes a tuple
    (a Python list is typed from its elements, and replies mix types)."""
    if type(value) is list:
        return tuple([_any(v) for v in value])
    return value


def _execute(cmd, args):
    try:
        return _any(host.execute([cmd, *args]))
    except HostError as exc:
        raise RuntimeError(f"Redis command returned an error: {exc}") from None


def _execute_noargs(cmd):
    return _execute(cmd, ())


def _as_list(value):
    if type(value) is tuple:
        return list(value)
    if type(value) is list:
        return value
    raise RuntimeError(f"redis.asList: expected an array reply but got {type(value).__name__}")


def _model_execute(model_key, inputs, num_outputs):
    try:
        session = host.model(model_key)
    except HostError as exc:
        raise RuntimeError(str(exc)) from None
    expected = len(session.inputs)
    if len(inputs) != expected:
        raise RuntimeError(f"ERR Expected {expected} inputs but got {len(inputs)}")
    expected = len(session.outputs)
    if num_outputs != expected:
        raise RuntimeError(f"ERR Expected {expected} outputs but got {num_outputs}")
    arrays = [t.detach().cpu().contiguous().numpy() for t in inputs]
    try:
        results = session.run(arrays)
    except BackendError as exc:
        raise RuntimeError(str(exc)) from None
    device = inputs[0].device if inputs else None
    outputs = []
    for r in results:
        if r is None:
            raise RuntimeError(NON_TENSOR_OUTPUT)
        if r.dtype.hasobject:
            raise RuntimeError(NO_STRINGS)
        if not r.flags.c_contiguous:
            r = np.ascontiguousarray(r)
        t = torch.from_numpy(r)
        outputs.append(t if device is None or device.type == "cpu" else t.to(device))
    return outputs


_redis.impl("execute", _execute, "CompositeExplicitAutograd")
_redis.impl("execute.noargs", _execute_noargs, "CompositeExplicitAutograd")
_redis.impl("asList", _as_list, "CompositeExplicitAutograd")
_redisai.impl("model_execute", _model_execute, "CompositeExplicitAutograd")

# --- name resolution -------------------------------------------------------------------------


class _Namespace(types.ModuleType):
    """What a script sees as `torch` (and its submodules): torch's public
    attributes, but no private ones (`torch._C`; operators excepted), no other Python module
    (`torch.os`, `torch.sys`: their string constants would compile into the
    script), no TorchBind classes (`torch.classes`: c10d stores and process
    groups) and, under `torch.ops`, only operator namespaces (no `load_library`)."""

    def __init__(self, real):
        super().__init__(real.__name__)
        self._real = real
        self._ops = isinstance(real, torch._ops._OpNamespace)
        self._cache = {}

    def __getattr__(self, name):
        if name.startswith("_") and not self._ops:    # an operator's name may (`aten::_softmax`)
            raise AttributeError(name)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        real = self._real
        if real is torch and name == "classes":
            raise AttributeError(name)
        value = getattr(real, name)
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith("torch."):
                raise AttributeError(name)
            value = self._cache[name] = _Namespace(value)
        elif real is torch.ops:
            raise AttributeError(name)
        return value


_TORCH = _Namespace(torch)
_NAMES = {"torch": _TORCH, "redis": torch.ops.redis, "redisai": torch.ops.redisAI}
# `raise ValueError(...)`: TorchScript asks the resolver for exception classes too.
_NAMES.update((n, v) for n, v in vars(builtins).items()
              if isinstance(v, type) and issubclass(v, BaseException))


def _resolve(name):
    value = _NAMES.get(name)
    return value if value is not None else _NAMES.get(name.lower())


# --- the operator check ----------------------------------------------------------------------

# Namespaces TorchScript's compiler emits (prim: control flow, constants, list
# and tuple construction...; aten: tensor, string, list, dict and math
# operators), plus ours. Everything else (`torch.ops.<ns>`: c10d, quantized,
# profiler, mkldnn, prims, inductor...) is another library's surface.
ALLOWED_NAMESPACES = frozenset({"aten", "prim", "redis", "redisAI"})
FORBIDDEN_OPERATORS = frozenset({
    "aten::from_file",          # maps a file named by the script
    "aten::save",               # torch.save(): writes a file named by the script
    "aten::set_grad_enabled",   # would leave grad mode on for the worker thread's next requests
    "prim::PythonOp",           # calls Python (a torch function marked @torch.jit.ignore)
    "prim::IgnoredPythonOp",
    "prim::rpc_async",          # torch.distributed.rpc: network
    "prim::rpc_sync",
    "prim::rpc_remote",
    "prim::CallFunction",       # calls left after inlining cannot be checked
    "prim::CallMethod",
})
# Objects a script may create: the grad-mode context managers (`with torch.no_grad():`).
ALLOWED_CLASSES = frozenset({
    "__torch__.torch.autograd.grad_mode.no_grad",
    "__torch__.torch.autograd.grad_mode.enable_grad",
})


def _forbidden(kind):
    return BackendError(f"ERR script uses a forbidden operator: {kind}")


def _check_graph(graph):
    # Forked functions are subgraphs holding a call: inline it to see its body.
    torch._C._jit_pass_inline(graph)
    _check_block(graph.block())


def _check_block(block):
    for node in block.nodes():
        kind = node.kind()
        if kind.split("::", 1)[0] not in ALLOWED_NAMESPACES or kind in FORBIDDEN_OPERATORS:
            raise _forbidden(kind)
        for value in node.outputs():
            if "torch.classes." in value.type().str():
                raise _forbidden(f"{kind} ({value.type().str()})")
        if kind == "prim::CreateObject" and node.output().type().str() not in ALLOWED_CLASSES:
            raise _forbidden(f"{kind} ({node.output().type().str()})")
        for inner in node.blocks():
            _check_block(inner)
        for name in node.attributeNames():
            attr_kind = node.kindOf(name)
            if attr_kind == "g":
                _check_graph(node.g(name))
            elif attr_kind == "gs":
                for g in node.gs(name):
                    _check_graph(g)


# --- scripts ---------------------------------------------------------------------------------


def _device(device):
    """None for a CPU script, else the torch GPU device (as the reference parses it)."""
    upper = device.upper()
    if upper.startswith("CPU"):
        return None
    if upper != "GPU" and not upper.startswith("GPU:"):
        raise BackendError("ERR unsupported device")
    digits = ""
    for c in upper[4:]:
        if not c.isdigit():
            break
        digits += c
    return torch_backend.device_for(f"GPU:{int(digits or 0)}")


def _one_line(text):
    return text.replace("\r", " ").replace("\n", " ")


def _run_error(exc):
    """torch's text of an exception raised while a script runs, on one line.
    An operator implemented in Python (redis.execute...) fails inside torch's
    message as `RuntimeError: RuntimeError: <text>` followed by the Python
    stack (`At: <file>(<line>): <function>`): that stack is cut off."""
    text = str(exc)
    at = text.rfind("\n\nAt:\n")
    if at >= 0:
        text = text[:at].replace("RuntimeError: RuntimeError: ", "RuntimeError: ")
    return BackendError(_one_line(text).rstrip())


class Script:
    """A compiled script; `run` may be called from several worker threads."""

    def __init__(self, source: str, device: str, entry_points: list, settings):
        """Compiles `source` and validates its entry points; errors are BackendError with the spec's texts."""
        self.device = _device(device)
        self.intra_op = settings.intra_op
        torch_backend.set_interop_threads(settings)
        unit = torch.jit.CompilationUnit()
        try:
            unit.define(source, rcb=_resolve)
        except Exception as exc:
            raise BackendError(_one_line(str(exc))) from None
        functions = {f.name: f for f in unit.get_functions()}
        for name in entry_points:
            fn = functions.get(name)
            if fn is None:
                raise BackendError(f"Function {name} does not exist in the given script.")
            params = fn.schema.arguments
            if len(params) != 3:
                raise BackendError(f"Wrong number of inputs in function {name}. "
                                   f"Expected 3 but was {len(params)}")
            if tuple(str(p.type) for p in params) != ENTRY_TYPES:
                raise BackendError(
                    f"Wrong inputs type in function {name}. Expected signature similar to: "
                    f"def {name}(tensors: List[Tensor], keys: List[str], args: List[str])")
        for fn in functions.values():
            _check_graph(fn.inlined_graph)
        self.unit = unit
        # Per function, what a call needs: (function, entry point?, number of
        # Tensor parameters, trailing List[Tensor]?, legacy signature error).
        self.calls = {}
        entry = set(entry_points)
        for name, fn in functions.items():
            if name in entry:
                self.calls[name] = (fn, True, 0, False, None)
                continue
            kinds = [str(p.type) for p in fn.schema.arguments]
            variadic = bool(kinds) and kinds[-1] == "List[Tensor]"
            fixed = kinds[:-1] if variadic else kinds
            error = None
            if any(k != "Tensor" for k in fixed):
                error = f"Unsupported input type in function definition: {name}"
            self.calls[name] = (fn, False, len(fixed), variadic, error)

    def run(self, function: str, arrays: list, keys: list, args: list, noutputs: int) -> list:
        """Calls `function` on numpy arrays; returns its output tensors as contiguous CPU numpy arrays."""
        call = self.calls.get(function)
        if call is None:
            raise BackendError(f"Function does not exist: {function}")
        torch_backend.configure_thread(self.intra_op)
        fn, entry, nfixed, variadic, error = call
        try:
            tensors = [torch.from_numpy(a) for a in arrays]
        except TypeError:
            raise BackendError(NO_STRINGS) from None
        if self.device is not None:
            tensors = [t.to(self.device) for t in tensors]
        try:
            if entry:
                result = fn(tensors, keys, args)
            else:
                if error is not None:
                    raise BackendError(error)
                if len(tensors) < nfixed:
                    raise BackendError(f"Wrong number of inputs provided to function: {function}")
                if variadic:
                    result = fn(*tensors[:nfixed], tensors[nfixed:])
                else:
                    result = fn(*tensors[:nfixed])
        except BackendError:
            raise
        except Exception as exc:
            raise _run_error(exc) from None
        if noutputs == 0:
            return []
        flat = torch_backend.flat_outputs(result, function)
        if len(flat) != noutputs:
            raise BackendError(f"Function returned unexpected number of outputs - {function}")
        try:
            if self.device is None:
                return [t.contiguous().numpy() for t in flat]
            return [t.contiguous().cpu().numpy() for t in flat]
        except TypeError:       # a dtype numpy has no equivalent for (bfloat16...)
            raise BackendError("ERR unsupported dtype") from None

