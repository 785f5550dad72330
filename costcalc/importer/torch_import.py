"""A PyTorch model (``package.module:callable``) as a costcalc graph, with its input size symbolic.

The model is built on PyTorch's ``meta`` device (random init, no weights are ever loaded: a meta
tensor has a shape and no data) and traced by ``torch.export`` with the input's height and width
dynamic (``Dim.AUTO``), so every shape in the graph is an expression in the input size. The ATen
graph is walked in execution order; each operator is looked up in :data:`OPS` (one entry per
operator) and becomes a costcalc layer, folds into the convolution before it (BatchNorm, then an
activation), is a view of its input (dropout, flatten before an ``fc``), or is an unsupported
operator, listed with its node name and shapes.

Importing the module runs its code (as ``python -c "import package.module"`` would), and so does
calling the callable; nothing else is executed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from costcalc.errors import CostcalcError
from costcalc.importer.ir import (
    ACTIVATION_TYPES,
    EXPORT_TIMEOUT,
    Graph,
    ImportFailure,
    ImportUsageError,
    TARGET,
    Shuffle,
    SizeVars,
    Tensor,
    Unsupported,
    View,
    conv_fields,
    is_gate,
    needs_pairs,
    pair,
    reshape,
    same_shape,
    same_size,
    shape_text,
    transpose,
)

# ----------------------------------------------------------------------------------------------
# Building the model


def load_model(target: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """Import ``package.module`` and call ``callable(**kwargs)`` (an ``nn.Module`` instance is used
    as it is); the result must be a ``torch.nn.Module``. Built on the meta device when the model
    allows it (no memory for weights, no initialisation cost), else on the CPU and moved to meta.
    Every failure is one line: a missing module, a callable that raises, needs arguments or returns
    something that is not a module."""
    import torch

    m = TARGET.match(target)
    if not m:
        raise ImportUsageError(f"{target!r} is not PACKAGE.MODULE:CALLABLE (e.g. torchvision.models:resnet50) "
                               "or a .onnx file")
    mod_name, attr = m.group("module"), m.group("attr")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        missing = e.name or mod_name
        raise ImportUsageError(f"{target}: cannot import module {mod_name!r}: no module named {missing!r}") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed while importing: say so, in one line
        raise ImportFailure(f"{target}: importing module {mod_name!r} raised {_one_line(e)}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportUsageError(f"{target}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, torch.nn.Module):
        if kwargs:
            raise ImportUsageError(f"{target} is a module instance, not a callable: --kwargs does not apply")
        return obj.to("meta")
    if not callable(obj):
        raise ImportFailure(f"{target} is a {type(obj).__name__}, not a callable returning a torch.nn.Module")
    kwargs = dict(kwargs or {})

    def build(device: str) -> Any:
        with torch.device(device), _quiet():
            return obj(**kwargs)

    try:
        try:
            model = build("meta")
        except TypeError:
            raise
        except Exception:  # noqa: BLE001 - some initialisers need real tensors: build on the CPU
            model = build("cpu")
    except TypeError as e:
        text = str(e)
        if "argument" in text and ("missing" in text or "unexpected" in text or "positional" in text):
            hint = " (give them with --kwargs '{\"name\": value}')" if "missing" in text else ""
            raise ImportFailure(f"{target}: calling it failed: {_one_line(e)}{hint}") from None
        raise ImportFailure(f"{target}: calling it raised {_one_line(e)}") from None
    except Exception as e:  # noqa: BLE001
        raise ImportFailure(f"{target}: calling it raised {_one_line(e)}") from None
    if not isinstance(model, torch.nn.Module):
        raise ImportFailure(f"{target} returned {_a(type(model).__name__)}, not a torch.nn.Module")
    return model.to("meta").eval()


def _a(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence PyTorch's warnings and the symbolic-shape solver's log noise during a trace."""
    loggers = [logging.getLogger(n) for n in ("torch.fx.experimental.symbolic_shapes", "torch._dynamo",
                                              "torch.export", "torch._export", "torch.fx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    sink = io.StringIO()  # torch.export prints the graph it failed on; a user sees one line instead
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


# ----------------------------------------------------------------------------------------------
# Tracing


def export(model: Any, shape: tuple[int, int, int], target: str, dynamic: bool = True) -> Any:
    """``torch.export`` of ``model`` on a ``(1, C, H, W)`` meta input, H and W dynamic (or fixed)."""
    import torch

    c, h, w = shape
    x = torch.zeros(1, c, h, w, device="meta")
    auto = torch.export.Dim.AUTO
    try:
        with _quiet():
            if dynamic:
                return torch.export.export(model, (x,), dynamic_shapes=({2: auto, 3: auto},), strict=False)
            return torch.export.export(model, (x,), strict=False)
    except Exception as e:  # noqa: BLE001 - torch.export's errors are pages long: one line that says why
        raise ImportFailure(f"{target}: torch.export cannot trace the model: {_export_reason(e)}") from None


def in_child(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` in a forked copy of this process, its result (pickled) back through a pipe; after
    ``timeout`` seconds the child is killed and :data:`TIMED_OUT` returned. torch.export cannot be
    interrupted in-process (an interrupted trace leaves PyTorch's tracing state behind), and a copy
    made by fork needs nothing rebuilt: the model the user's code made is already in it. An
    exception of ``fn`` is raised here again (a :class:`~costcalc.errors.CostcalcError` as itself)."""
    import os
    import pickle
    import select
    import signal
    import time

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        try:
            try:
                payload = ("ok", fn())
            except CostcalcError as e:
                payload = ("fail", e)
            except BaseException as e:  # noqa: BLE001 - carried to the parent as one line
                payload = ("error", f"{type(e).__name__}: {e}")
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as e:  # noqa: BLE001 - the result did not pickle
            data = pickle.dumps(("error", f"{type(e).__name__}: {e}"))
        with os.fdopen(write, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(write)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    with os.fdopen(read, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([f], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return TIMED_OUT
            chunk = os.read(f.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    if not chunks:
        raise ImportFailure("the trace ended without a result (its process died)")
    kind, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes
    if kind == "ok":
        return value
    if kind == "fail":
        raise value
    raise RuntimeError(value)


#: what :func:`in_child` returns when the time is up
TIMED_OUT = object()


def _export_reason(e: BaseException) -> str:
    text = str(e)
    name = type(e).__name__
    frame = re.search(r'File "([^"]+)", line (\d+)', text)
    at = f" (at {frame.group(1).rsplit('/', 1)[-1]}:{frame.group(2)})" if frame else ""
    if "data-dependent" in text or "DataDependent" in name or "GuardOnDataDependent" in text:
        return f"its forward depends on tensor values (data-dependent control flow){at}"
    if "meta tensors" in text or "meta" in text and "item()" in text:
        return f"its forward reads tensor values (.item() or similar){at}"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), name)
    if len(first) > 240:
        first = first[:237] + "..."
    return f"{name}: {first}{at}"


# ----------------------------------------------------------------------------------------------
# Values of the walk


@dataclass
class _Param:
    name: str
    numel: int
    shape: tuple[int, ...]
    is_param: bool


@dataclass
class _Multi:
    """A tuple result (chunk, split, max_pool2d_with_indices): ``get(i)`` gives element i."""

    get: Callable[[int], Any]


class _Walk:
    def __init__(self, ep: Any, sizes: SizeVars) -> None:
        self.ep = ep
        self.sizes = sizes
        self.values: dict[Any, Any] = {}
        self.origin: dict[int, Any] = {}  # id(Tensor) -> fx node that last produced it
        self.param_uses: dict[str, int] = {}
        self.graph: Graph | None = None
        #: module scopes that may be hand-written self-attention (:func:`_attention_scopes`)
        self.attention_scopes: set[str] = set()
        #: why the module around an attention operator was not folded (said if the operator is refused)
        self.fold_reasons: dict[Any, str] = {}

    # -- helpers -----------------------------------------------------------------------------
    def shape(self, node: Any) -> tuple[Any, ...]:
        return tuple(_dim(s) for s in node.meta["val"].shape)

    def scope(self, node: Any) -> tuple[str, ...]:
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return ()
        path = list(stack.values())[-1][0]
        if not isinstance(path, str) or path.startswith("_empty") or not path:
            return ()
        return tuple(p.split("@")[0] for p in path.split("."))

    def val(self, arg: Any) -> Any:
        return self.values.get(arg) if hasattr(arg, "op") else None

    def tensor(self, node: Any, i: int, *, spatial: bool = True) -> View:
        """Argument ``i`` of ``node`` as a tensor value whose costcalc shape matches its layout
        (``spatial``: a (1, C, H, W) map or a (1, C) vector, not a flattened map)."""
        arg = node.args[i] if i < len(node.args) else None
        v = self.val(arg)
        if isinstance(v, Shuffle):
            raise _Skip(f"a reshape to {len(v.src.shape) + 1}-D that is not a channel shuffle (node {v.node})")
        if isinstance(v, _Subsample):
            raise _Skip(f"a strided slice of H and W (node {v.node}) that is not ResNet's option A shortcut")
        if not isinstance(v, View):
            raise _Skip(f"argument {i} is not a tensor costcalc follows")
        if spatial and v.flat:
            raise _Skip("on a flattened feature map (costcalc keeps H×W×C there)")
        if spatial and v.cl:
            raise _Skip("on a channels-last tensor (a channel-wise layer expects N×C×H×W)")
        if spatial and len(v.shape) not in (2, 4):
            raise _Skip(f"on a {len(v.shape)}-D tensor (costcalc layers take N×C×H×W maps or N×F vectors)")
        return v

    def param(self, node: Any, i: int, kind: str) -> _Param | None:
        arg = node.args[i] if i < len(node.args) else None
        if arg is None:
            return None
        p = self.val(arg)
        if not isinstance(p, _Param):
            raise _Skip(f"its {kind} is computed at run time, not a parameter")
        if not p.is_param:
            raise _Skip(f"its {kind} is a buffer, not a learnable parameter")
        return p

    def use(self, *params: _Param | None) -> None:
        for p in params:
            if p is not None:
                self.param_uses[p.name] = self.param_uses.get(p.name, 0) + 1

    def sole(self, node: Any, v: View) -> bool:
        """``v`` came straight from the node that made its tensor, and ``node`` is its only user."""
        src = node.args[0]
        return self.origin.get(id(v.tensor)) is src and len(src.users) == 1

    def emit(self, node: Any, type_: str, fields: Mapping[str, Any], inputs: Sequence[View], name: str,
             flat: bool = False, cl: bool = False, scope: tuple[str, ...] | None = None) -> View:
        """Add a costcalc layer whose output is ``node``'s (a channels-last output is recorded in
        N×C×H×W order: costcalc's shapes have no layout)."""
        assert self.graph is not None
        shape = self.shape(node)
        nchw = (shape[0], shape[3], shape[1], shape[2]) if cl else shape
        t = self.graph.emit(type_, fields, [v.tensor for v in inputs], nchw,
                            self.scope(node) if scope is None else scope, name, f"{_op_name(node)} ({node.name})")
        self.origin[id(t)] = node
        out = View(t, shape, flat, cl)
        self.values[node] = out
        return out

    def alias(self, node: Any, v: Any, shape: tuple[Any, ...] | None = None, flat: bool | None = None,
              cl: bool | None = None) -> None:
        if isinstance(v, View):
            v = View(v.tensor, v.shape if shape is None else shape, v.flat if flat is None else flat,
                     v.cl if cl is None else cl)
        self.values[node] = v

    def concrete(self, v: Any) -> int:
        return self.sizes.concrete(v)

    # -- the walk ------------------------------------------------------------------------------
    def run(self) -> Graph:
        from torch.export.graph_signature import InputKind

        sig = self.ep.graph_signature
        kinds = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
        nodes = list(self.ep.graph.nodes)
        self.attention_scopes = _attention_scopes(nodes)
        done: set[Any] = set()
        for i, node in enumerate(nodes):
            if node in done:
                continue
            if node.op == "call_function":
                run = self.module_run(nodes, i)
                if run is not None:
                    done.update(run)
                    continue
            if node.op == "placeholder":
                spec = kinds.get(node.name)
                if spec is not None and spec.kind == InputKind.USER_INPUT:
                    shape = self.shape(node)
                    t = Tensor(shape)
                    self.graph = Graph(t)
                    self.values[node] = View(t, shape)
                else:
                    val = node.meta.get("val")
                    shape = tuple(int(s) for s in getattr(val, "shape", ()))
                    numel = 1
                    for s in shape:
                        numel *= s
                    is_param = spec is not None and spec.kind == InputKind.PARAMETER
                    self.values[node] = _Param(spec.target if spec is not None else node.name, numel, shape,
                                               is_param)
                continue
            if node.op == "output":
                outs = [self.val(a) for a in _flatten_args(node.args)]
                outs = [o for o in outs if isinstance(o, View)]
                assert self.graph is not None
                self.graph.output = outs[0].tensor if outs else None
                if len(outs) > 1:
                    self.graph.notes.append(f"the model returns {len(outs)} tensors; the spec's output is the "
                                            "first")
                continue
            if node.op != "call_function":
                continue
            self.call(node)
        assert self.graph is not None
        return self.graph

    def module_run(self, nodes: Sequence[Any], i: int) -> list[Any] | None:
        """If ``nodes[i]`` starts a module that :data:`MODULE_FOLDS` maps whole (attention), or
        starts a module scope that :func:`_attention_scopes` found (self-attention written by hand,
        whatever its class), fold the module's operators into its layer and return them; else None
        (walked one by one). The outermost such module is tried, once."""
        stack = nodes[i].meta.get("nn_module_stack") or {}
        for path, kind in stack.values():
            fold = MODULE_FOLDS.get(str(kind).rsplit(".", 1)[-1])
            generic = fold is None and path in self.attention_scopes
            if fold is None and not generic:
                continue
            if generic and i > 0 and path in _paths(nodes[i - 1]):
                continue  # not where the module starts: its fold was tried there
            run = []
            for node in nodes[i:]:
                inner = node.meta.get("nn_module_stack") or {}
                if node.op != "call_function" or not any(p == path for p, _ in inner.values()):
                    break
                run.append(node)
            scope = tuple(str(path).split("."))
            try:
                if generic:
                    why = _fold_self_attention(self, scope, run)
                    if why is None:
                        return run
                    for node in run:
                        if _op_name(node) in _ATTENTION_CORE:
                            self.fold_reasons[node] = why
                    return None
                if fold(self, scope, run):
                    return run
            except (_Skip, TypeError, ValueError, KeyError, IndexError, AttributeError):
                return None  # walked one by one: anything unsupported is reported there
            return None
        return None

    def call(self, node: Any) -> None:
        name = _op_name(node)
        val = node.meta.get("val")
        handler = OPS.get(name)
        if handler is None and not _has_tensor(val):
            return  # size arithmetic (sym_size, operator.add on sizes), assertions: no tensor, no cost
        if any(self.values.get(a) is MISSING for a in _flatten_args(node.args) if hasattr(a, "op")):
            self.values[node] = MISSING  # an input comes from an unsupported operator, reported there
            return
        try:
            if handler is None:
                raise _Skip("")
            handler(self, node)
        except _Skip as e:
            self.unsupported(node, e.reason)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            # arguments of a form the handler does not read (a size computed at run time, ...)
            self.unsupported(node, f"arguments costcalc cannot read ({type(e).__name__}: {_one_line(e)})")
        if name.split(".")[1].endswith("_") and node.args and hasattr(node.args[0], "op") \
                and name not in ("aten.dropout_.default",):
            # an in-place op: later uses of its input see its output
            self.values[node.args[0]] = self.values.get(node)

    def unsupported(self, node: Any, reason: str) -> None:
        assert self.graph is not None
        name = _op_name(node)
        ins = []
        views: list[View] = []
        for a in _flatten_args(node.args):
            v = self.val(a)
            if isinstance(v, View):
                ins.append(shape_text(self._concrete_shape(v.shape)))
                views.append(v)
            elif isinstance(v, Shuffle):
                views.append(v.src)
        out_val = node.meta.get("val")
        out_shape = tuple(_dim(s) for s in out_val.shape) if hasattr(out_val, "shape") else None
        # an unknown row continues from the input most like its output (the map, not an SE gate)
        first = next((v for v in views if out_shape is not None and len(v.shape) == len(out_shape)
                      and same_shape(v.shape[2:], out_shape[2:])), views[0] if views else None)
        out_text = shape_text(self._concrete_shape(out_shape)) if out_shape is not None else "a tuple"
        where = ".".join(self.scope(node))
        if node in self.fold_reasons:
            why = f"its module is not folded into attention: {self.fold_reasons[node]}"
            reason = f"{reason}; {why}" if reason else why
        self.graph.unsupported.append(Unsupported(name, node.name, where, tuple(ins), out_text, reason))
        # The walk goes on with an 'unknown' row in its place, so that one error lists every
        # operator costcalc cannot count (the import fails at the end unless --allow-unknown).
        src = first or View(self.graph.input, self.graph.input.shape)
        if out_shape is None:
            self.values[node] = _Multi(lambda i, node=node, src=src: self._unknown_item(node, src, i))
            return
        self.values[node] = self._unknown(node, src, out_shape, name)

    def _unknown(self, node: Any, src: View, out_shape: tuple[Any, ...], op: str) -> View:
        assert self.graph is not None
        hwc = _hwc(out_shape)
        fields: dict[str, Any] = {"op": op}
        in_hwc = _hwc(src.shape) if not src.flat else None
        if in_hwc is None or not same_size(in_hwc[2], hwc[2]):
            fields["M"] = hwc[2]
        if in_hwc is None or not same_size(in_hwc[0], hwc[0]):
            fields["OH"] = hwc[0]
        if in_hwc is None or not same_size(in_hwc[1], hwc[1]):
            fields["OW"] = hwc[1]
        t = self.graph.emit("unknown", fields, [src.tensor], out_shape, self.scope(node), op.split(".")[1],
                            f"{op} ({node.name})")
        self.origin[id(t)] = node
        return View(t, out_shape)

    def _unknown_item(self, node: Any, src: View, i: int) -> View:
        item = node.meta["val"][i]
        return self._unknown(node, src, tuple(_dim(s) for s in item.shape), _op_name(node))

    def _concrete_shape(self, shape: Sequence[Any]) -> tuple[Any, ...]:
        out = []
        for s in shape:
            try:
                out.append(self.concrete(s))
            except Exception:  # noqa: BLE001 - a message: show the expression
                out.append(s)
        return tuple(out)


#: the value of an unsupported operator's output (without --allow-unknown)
MISSING = object()


class _Skip(Exception):
    """An operator the walk cannot map; ``reason`` says why (empty: no rule for it at all)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _dim(s: Any) -> Any:
    if isinstance(s, int):
        return s
    node = getattr(s, "node", None)
    if node is not None and hasattr(node, "expr"):
        import sympy

        e = node.expr
        return int(e) if isinstance(e, sympy.Integer) else e
    return int(s)


def _hwc(shape: Sequence[Any]) -> tuple[Any, Any, Any]:
    """A framework shape (batch first) as costcalc's H × W × C."""
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1])
    if len(shape) == 3:
        return (shape[1], 1, shape[2])  # tokens: L × 1 × D
    n: Any = 1
    for s in shape[1:]:
        n = n * s
    return (1, 1, n)


def _has_tensor(val: Any) -> bool:
    if isinstance(val, (list, tuple)):
        return any(_has_tensor(v) for v in val)
    return hasattr(val, "shape") and hasattr(val, "dtype")


def _flatten_args(args: Any) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out += _flatten_args(a)
        else:
            out.append(a)
    return out


def _op_name(node: Any) -> str:
    t = node.target
    name = str(t)
    if not name.startswith("aten."):
        mod = getattr(t, "__module__", "") or ""
        name = f"{mod.split('.')[0] or 'python'}.{getattr(t, '__name__', name)}"
    return name


def _arg(node: Any, i: int, name: str, default: Any) -> Any:
    if i < len(node.args):
        return node.args[i]
    return node.kwargs.get(name, default)


def _ints(v: Any, n: int = 2) -> list[int]:
    if isinstance(v, (list, tuple)):
        vals = [int(x) for x in v]
        return vals * n if len(vals) == 1 else vals
    return [int(v)] * n


# ----------------------------------------------------------------------------------------------
# Operators: one handler per ATen operator (extend by adding an entry to OPS)


def _conv(w: _Walk, node: Any) -> None:
    name = _op_name(node)
    x = w.tensor(node, 0)
    if len(x.shape) != 4:
        raise _Skip("a convolution on a tensor that is not N×C×H×W")
    weight = w.param(node, 1, "weight")
    bias = w.param(node, 2, "bias")
    if name.startswith("aten.convolution") or name.startswith("aten._convolution"):
        stride, padding, dilation = _arg(node, 3, "stride", [1]), _arg(node, 4, "padding", [0]), \
            _arg(node, 5, "dilation", [1])
        if _arg(node, 6, "transposed", False):
            return _conv_transpose(w, node)
        groups = int(_arg(node, 8, "groups", 1))
    else:
        stride, padding, dilation = _arg(node, 3, "stride", [1]), _arg(node, 4, "padding", [0]), \
            _arg(node, 5, "dilation", [1])
        groups = int(_arg(node, 6, "groups", 1))
    assert weight is not None
    m, _, kh, kw = weight.shape
    d = _ints(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            p = [0, 0]
        elif all((di * (k - 1)) % 2 == 0 for di, k in zip(d, (kh, kw))):
            p = [di * (k - 1) // 2 for di, k in zip(d, (kh, kw))]
        else:
            raise _Skip("padding='same' with an even kernel pads unevenly")
    else:
        p = _ints(padding)
    n = x.shape[1]
    type_, fields = conv_fields(n=int(n), m=m, k=(kh, kw), s=_ints(stride), p=p, d=d, g=groups,
                                bias=bias is not None)
    _check_pairs(type_, fields)
    w.use(weight, bias)
    w.emit(node, type_, fields, [x], "conv")


def _check_pairs(type_: str, fields: Mapping[str, Any]) -> None:
    if needs_pairs(*fields.values()) and not supports_pairs(type_):
        _pending("a non-square kernel, stride, padding or dilation", f"[h, w] values in {type_}")


_PAIRS: dict[str, bool] = {}


def supports_pairs(type_: str) -> bool:
    """Whether this costcalc version accepts [h, w] for K/S/P/D of ``type_``."""
    if type_ not in _PAIRS:
        from costcalc.layers.base import get_type

        try:
            get_type(type_).make(K=(1, 3))
            _PAIRS[type_] = True
        except Exception:  # noqa: BLE001 - a version without non-square windows
            _PAIRS[type_] = False
    return _PAIRS[type_]


def _pending(what: str, needs: str) -> None:
    raise _Skip(f"{what} needs {needs}, which this version of costcalc does not have yet")


def _linear(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0, spatial=False)
    weight = w.param(node, 1, "weight")
    bias = w.param(node, 2, "bias")
    assert weight is not None
    m, f = weight.shape
    if (x.cl and len(x.shape) == 4) or (x.tokens and w.concrete(x.shape[1]) > 1):
        # nn.Linear on every position (ConvNeXt's channels-last block) or every token (ViT)
        if not same_size(x.shape[-1], f):
            raise _Skip(f"a linear layer on {f} features of a tensor with {x.shape[-1]}")
        w.use(weight, bias)
        w.emit(node, "linear", {"M": m} if bias is not None else {"M": m, "bias": False}, [x], "linear", cl=x.cl)
        return
    elements = 1
    for s in x.shape[1:]:
        elements = elements * s
    if len(x.shape) > 2 and not x.flat and any(w.concrete(s) != 1 for s in x.shape[1:-1]):
        raise _Skip("a linear layer applied per position (costcalc's fc reads the whole flattened input)")
    if w.concrete(elements) != f:
        raise _Skip(f"a linear layer on {f} features of a {shape_text(w._concrete_shape(x.shape))} tensor")
    w.use(weight, bias)
    w.emit(node, "fc", {"M": m} if bias is not None else {"M": m, "bias": False}, [x], "fc")


def _batchnorm(w: _Walk, node: Any) -> None:
    name = _op_name(node)
    x = w.tensor(node, 0)
    weight = w.param(node, 1, "weight")
    bias = w.param(node, 2, "bias")
    if name == "aten.batch_norm.default" and _arg(node, 5, "training", False):
        raise _Skip("BatchNorm in training mode")
    if weight is None or bias is None:
        raise _Skip("BatchNorm without affine parameters (costcalc counts γ and β)")
    w.use(weight, bias)
    assert w.graph is not None
    if len(x.shape) == 4:
        folded = w.graph.fold_post(x.tensor, "bn", True, w.scope(node), w.sole(node, x), f"{name} ({node.name})")
        if folded is not None:
            w.origin[id(folded)] = node
            w.values[node] = View(folded, x.shape)
            return
    w.emit(node, "batchnorm", {}, [x], "bn")


def _batchnorm_tuple(w: _Walk, node: Any) -> None:
    _batchnorm(w, node)
    out = w.values[node]
    w.values[node] = _Multi(lambda i: out if i == 0 else None)


def _activation(kind: str) -> Callable[[_Walk, Any], None]:
    def handler(w: _Walk, node: Any) -> None:
        x = w.tensor(node, 0, spatial=False)
        _act(w, node, x, kind)

    handler.__doc__ = f"{kind} activation"
    return handler


def _act(w: _Walk, node: Any, x: View, kind: str) -> None:
    assert w.graph is not None
    if not x.flat and len(x.shape) == 4:
        folded = w.graph.fold_post(x.tensor, "act", kind, w.scope(node), w.sole(node, x),
                                   f"{_op_name(node)} ({node.name})")
        if folded is not None:
            w.origin[id(folded)] = node
            w.values[node] = View(folded, x.shape)
            return
    w.emit(node, kind, {}, [x], kind, flat=x.flat, cl=x.cl)


def _hardtanh(w: _Walk, node: Any) -> None:
    lo, hi = float(_arg(node, 1, "min_val", -1.0)), float(_arg(node, 2, "max_val", 1.0))
    if (lo, hi) != (0.0, 6.0):
        raise _Skip(f"hardtanh({lo:g}, {hi:g}) is not ReLU6")
    _act(w, node, w.tensor(node, 0, spatial=False), "relu6")


def _gelu(w: _Walk, node: Any) -> None:
    if _arg(node, 1, "approximate", "none") != "none":
        raise _Skip("GELU with the tanh approximation (costcalc's gelu is the erf form)")
    _act(w, node, w.tensor(node, 0, spatial=False), "gelu")


def _conv_transpose(w: _Walk, node: Any) -> None:
    """``conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)``, or
    ``convolution(..., transposed=True, output_padding, groups)``: costcalc's ``conv_transpose``,
    whose weight is (N, M/G, K, K)."""
    x = w.tensor(node, 0)
    if len(x.shape) != 4:
        raise _Skip("a transposed convolution on a tensor that is not N×C×H×W")
    weight, bias = w.param(node, 1, "weight"), w.param(node, 2, "bias")
    assert weight is not None
    if _op_name(node).startswith("aten.conv_transpose2d"):
        stride, padding, out_pad = _arg(node, 3, "stride", [1]), _arg(node, 4, "padding", [0]), \
            _arg(node, 5, "output_padding", [0])
        groups, dilation = int(_arg(node, 6, "groups", 1)), _arg(node, 7, "dilation", [1])
    else:
        stride, padding, dilation = _arg(node, 3, "stride", [1]), _arg(node, 4, "padding", [0]), \
            _arg(node, 5, "dilation", [1])
        out_pad, groups = _arg(node, 7, "output_padding", [0]), int(_arg(node, 8, "groups", 1))
    _, m_per_group, kh, kw = weight.shape
    values = {"K": [kh, kw], "S": _ints(stride), "P": _ints(padding), "output_padding": _ints(out_pad),
              "D": _ints(dilation)}
    uneven = [f"{k}={v}" for k, v in values.items() if v[0] != v[1]]
    if uneven:
        raise _Skip(f"a transposed convolution with {', '.join(uneven)} (costcalc's conv_transpose is square)")
    defaults = {"K": 3, "S": 1, "P": 0, "output_padding": 0, "D": 1}
    fields: dict[str, Any] = {"M": m_per_group * groups}
    fields.update({k: v[0] for k, v in values.items() if v[0] != defaults[k]})
    if groups != 1:
        fields["G"] = groups
    if bias is not None:
        fields["bias"] = True
    w.use(weight, bias)
    w.emit(node, "conv_transpose", fields, [x], "conv_transpose")


def _scale(w: _Walk, axis: str, size: Any, out: Any, given: Any) -> int:
    """The integer factor ``out = k·size`` of one axis of an upsampling (at every input size, not
    only the traced one), or an explicit refusal that says why it is not one."""
    a, b = w.concrete(size), w.concrete(out)
    k = b // a if a and b % a == 0 else 0
    if k < 1 or not same_size(out, k * size):
        if given is not None and float(given) != int(float(given)):
            raise _Skip(f"upsampling by {float(given):g} along {axis} (costcalc's upsample has an integer scale)")
        raise _Skip(f"upsampling {axis} {size} to {out}, which is not an integer multiple at every input size "
                    "(costcalc's upsample has an integer scale)")
    return k


def _upsample(mode: str) -> Callable[[_Walk, Any], None]:
    """``upsample_{nearest,bilinear}2d`` (``.vec``: output size or scale factors; ``.default``:
    output size and optional per-axis scales) as costcalc's ``upsample``: the factor is read from
    the shapes, so a size given as ``2·H`` maps too and ``1.5·H`` is refused by name."""

    def handler(w: _Walk, node: Any) -> None:
        x = w.tensor(node, 0)
        if len(x.shape) != 4:
            raise _Skip("upsampling a tensor that is not N×C×H×W")
        vec = _op_name(node).endswith(".vec")
        align = bool(_arg(node, 2, "align_corners", False)) if mode == "bilinear" else False
        if vec:
            scales = _arg(node, 3 if mode == "bilinear" else 2, "scale_factors", None) or [None, None]
        else:
            first = 3 if mode == "bilinear" else 2
            scales = [_arg(node, first, "scales_h", None), _arg(node, first + 1, "scales_w", None)]
        out = w.shape(node)
        sh = _scale(w, "H", x.shape[2], out[2], scales[0])
        sw = _scale(w, "W", x.shape[3], out[3], scales[-1])
        if sh != sw:
            raise _Skip(f"upsampling by {sh} along H and {sw} along W (costcalc's upsample has one scale)")
        fields: dict[str, Any] = {} if sh == 2 else {"scale": sh}
        if mode != "nearest":
            fields["mode"] = mode
        if align:
            fields["align_corners"] = True
        w.emit(node, "upsample", fields, [x], "upsample")

    handler.__doc__ = f"{mode} upsampling"
    return handler


def _group_norm(w: _Walk, node: Any) -> None:
    """``group_norm(x, G, weight, bias, eps)``, or ``native_group_norm(x, weight, bias, N, C, HxW,
    G, eps)`` (its mean and 1/σ outputs are never read at inference): costcalc's ``groupnorm``."""
    x = w.tensor(node, 0)
    native = _op_name(node).startswith("aten.native_group_norm")
    groups = int(_arg(node, 6, "group", 1) if native else _arg(node, 1, "num_groups", 1))
    weight, bias = w.param(node, 1 if native else 2, "weight"), w.param(node, 2 if native else 3, "bias")
    if weight is None or bias is None:
        raise _Skip("a group norm without affine parameters (costcalc counts γ and β)")
    w.use(weight, bias)
    out = w.emit(node, "groupnorm", {"G": groups}, [x], "gn")
    if native:
        w.values[node] = _Multi(lambda i: out if i == 0 else None)


def _softmax(w: _Walk, node: Any) -> None:
    """``softmax(x, dim)`` over the channels: dim 1 of an N×C×H×W map or of an N×F vector, the last
    dim of a channels-last map or of tokens. Any other axis (attention's keys) is refused."""
    x = w.tensor(node, 0, spatial=False)
    rank = len(x.shape)
    dim = int(_arg(node, 1, "dim", -1)) % max(rank, 1)
    if x.flat:
        spread = [w.concrete(s) for s in x.tensor.shape[2:]]
        if dim != 1 or rank != 2 or any(s != 1 for s in spread):
            raise _Skip("a softmax over a flattened feature map (costcalc's softmax is over the channels at "
                        "each position)")
    elif not ((rank in (2, 4) and not x.cl and dim == 1) or (x.cl and dim == 3) or (x.tokens and dim == 2)):
        raise _Skip(f"a softmax over dimension {dim} of a {rank}-D tensor (costcalc's softmax is over the "
                    "channels at each position)")
    w.emit(node, "softmax", {}, [x], "softmax", flat=x.flat, cl=x.cl)


def _pool_fields(w: _Walk, node: Any, k: list[int], s: list[int], p: list[int], ceil: bool,
                 type_: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"K": pair(k)}
    if pair(s) != pair(k):
        fields["S"] = pair(s)
    if pair(p) != 0:
        fields["P"] = pair(p)
    if ceil:
        fields["ceil_mode"] = True
    if needs_pairs(*fields.values()) and not supports_pairs(type_):
        _pending("a non-square pooling window", f"[h, w] values in {type_}")
    return fields


def _maxpool(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0)
    k = _ints(_arg(node, 1, "kernel_size", None))
    s = _ints(_arg(node, 2, "stride", []) or k)
    p = _ints(_arg(node, 3, "padding", 0))
    if _ints(_arg(node, 4, "dilation", 1)) != [1, 1]:
        raise _Skip("max pooling with dilation")
    fields = _pool_fields(w, node, k, s, p, bool(_arg(node, 5, "ceil_mode", False)), "maxpool")
    out = w.emit(node, "maxpool", fields, [x], "maxpool")
    if _op_name(node).startswith("aten.max_pool2d_with_indices"):
        w.values[node] = _Multi(lambda i: out if i == 0 else None)


def _avgpool(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0)
    k = _ints(_arg(node, 1, "kernel_size", None))
    s = _ints(_arg(node, 2, "stride", []) or k)
    p = _ints(_arg(node, 3, "padding", 0))
    fields = _pool_fields(w, node, k, s, p, bool(_arg(node, 4, "ceil_mode", False)), "avgpool")
    if not _arg(node, 5, "count_include_pad", True) and pair(p) != 0:
        fields["count_include_pad"] = False
    w.emit(node, "avgpool", fields, [x], "avgpool")


def _adaptive_avg(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0)
    out = _ints(_arg(node, 1, "output_size", None))
    if out == [1, 1]:
        w.emit(node, "global_avgpool", {}, [x], "avgpool")
        return
    w.emit(node, "adaptive_avgpool", {"out": pair(out)}, [x], "avgpool")


def _adaptive_max(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0)
    if _ints(_arg(node, 1, "output_size", None)) != [1, 1]:
        raise _Skip("adaptive max pooling to more than 1×1")
    out = w.emit(node, "global_maxpool", {}, [x], "maxpool")
    w.values[node] = _Multi(lambda i: out if i == 0 else None)


def _mean(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0, spatial=False)
    dims = _arg(node, 1, "dim", None)
    rank = len(x.shape)
    axes = {int(d) % rank for d in (dims or [])}
    if x.tokens and axes == {1} and not _arg(node, 2, "keepdim", False):
        # the mean of the tokens (timm's global_pool='avg'): costcalc's global pool of an L × 1 × D
        w.emit(node, "global_avgpool", {}, [x], "mean")
        return
    x = w.tensor(node, 0)
    if rank != 4 or axes != {2, 3}:
        raise _Skip(f"a mean over dimensions {sorted(axes)} (costcalc's global pools average over H and W)")
    w.emit(node, "global_avgpool", {}, [x], "mean")


def _add(w: _Walk, node: Any) -> None:
    if not all(hasattr(a, "op") for a in node.args[:2]):
        raise _Skip("an add with a constant (costcalc's add joins two tensors)")
    p = next((w.val(a) for a in node.args[:2] if isinstance(w.val(a), _Param)), None)
    if p is not None:
        _pos_embed(w, node, p)
        return
    if _arg(node, 2, "alpha", 1) != 1:
        raise _Skip("an add with alpha ≠ 1")
    a, b = w.tensor(node, 0, spatial=False), w.tensor(node, 1, spatial=False)
    if not same_shape(a.shape, b.shape):
        raise _Skip(f"a broadcasting add of {shape_text(w._concrete_shape(a.shape))} and "
                    f"{shape_text(w._concrete_shape(b.shape))}")
    if a.flat != b.flat or a.cl != b.cl:
        raise _Skip("an add of tensors in different layouts")
    w.emit(node, "add", {}, [a, b], "add", flat=a.flat, cl=a.cl)


def _mul(w: _Walk, node: Any) -> None:
    if not all(hasattr(a, "op") for a in node.args[:2]):
        raise _Skip("a multiply by a constant")
    p = next((w.val(a) for a in node.args[:2] if isinstance(w.val(a), _Param)), None)
    if p is not None:
        _layer_scale(w, node, p)
        return
    a, b = w.tensor(node, 0), w.tensor(node, 1)
    if len(a.shape) != 4 or len(b.shape) != 4:
        raise _Skip("a multiply of tensors that are not N×C×H×W")
    if is_gate(a.shape) and not is_gate(b.shape):
        a, b = b, a  # the full map first, the 1×1×C gate second
    elif not (is_gate(b.shape) or same_shape(a.shape, b.shape)):
        raise _Skip(f"a broadcasting multiply of {shape_text(w._concrete_shape(a.shape))} and "
                    f"{shape_text(w._concrete_shape(b.shape))}")
    w.emit(node, "mul", {}, [a, b], "mul")


def _cat(w: _Walk, node: Any) -> None:
    items = node.args[0]
    if items and isinstance(w.val(items[0]), _Expanded):
        _class_token(w, node)
        return
    dim = int(_arg(node, 1, "dim", 0))
    vals = []
    for a in items:
        v = w.val(a)
        if not isinstance(v, View) or v.flat:
            raise _Skip("a concatenation of values costcalc does not follow")
        vals.append(v)
    rank = len(vals[0].shape)
    if dim % rank != 1 or rank not in (2, 4):
        raise _Skip(f"a concatenation along dimension {dim} (costcalc concatenates channels)")
    if len(vals) == 1:
        w.alias(node, vals[0])
        return
    w.emit(node, "concat", {}, vals, "cat")


def _identity(w: _Walk, node: Any) -> None:
    w.alias(node, w.val(node.args[0]))


def _flatten(w: _Walk, node: Any) -> None:
    v = w.val(node.args[0])
    start, end = int(_arg(node, 1, "start_dim", 0)), int(_arg(node, 2, "end_dim", -1))
    if isinstance(v, Shuffle) or (isinstance(v, View) and start % len(v.shape) == 1
                                  and end % len(v.shape) == len(v.shape) - 1):
        _reshape(w, node)
        return
    if isinstance(v, View) and len(v.shape) == 4 and not v.flat and not v.cl and start % 4 == 2 and end % 4 == 3:
        w.values[node] = _Tokens(v)  # (1, C, H·W): timm's patch embedding, tokens after the transpose
        return
    raise _Skip(f"a flatten of dimensions {start}..{end}")


def _reshape(w: _Walk, node: Any) -> None:
    v = w.val(node.args[0])
    out = w.shape(node)
    if isinstance(v, View) and len(v.shape) == 4 and not v.flat and not v.cl and len(out) == 3 \
            and same_size(out[1], v.shape[1]) and same_size(out[2], v.shape[2] * v.shape[3]):
        w.values[node] = _Tokens(v)
        return
    if isinstance(v, _Tokens) and len(out) == 4 and w.concrete(out[3]) == 1 \
            and same_shape(out[:3], (v.src.shape[0], v.src.shape[1], v.src.shape[2] * v.src.shape[3])):
        _tokens(w, node, v)  # (1, C, H·W, 1): costcalc's own build of tokens (L × 1 × D, channels first)
        return
    if not isinstance(v, (View, Shuffle)):
        raise _Skip("a reshape of a value costcalc does not follow")
    r = reshape(v, w.shape(node), node.name, w._concrete_shape)
    if isinstance(r, str):
        raise _Skip(r)
    if isinstance(r, Shuffle) and r.stage == 3:
        w.emit(node, "channel_shuffle", {"G": r.groups}, [r.src], "channel_shuffle")
        return
    w.values[node] = r


def _transpose(w: _Walk, node: Any) -> None:
    v = w.val(node.args[0])
    a, b = (int(d) for d in node.args[1:3])
    if isinstance(v, _Tokens) and {a % 3, b % 3} == {1, 2}:
        _tokens(w, node, v)  # x.flatten(2).transpose(1, 2)
        return
    rank = len(v.src.shape) + 1 if isinstance(v, Shuffle) else 0
    perm = list(range(rank))
    if rank:
        perm[a % rank], perm[b % rank] = perm[b % rank], perm[a % rank]
    r = transpose(v, perm)
    if isinstance(r, str):
        raise _Skip(r)
    w.values[node] = r


def _pass_shuffle(w: _Walk, node: Any) -> None:
    """contiguous / clone: a copy, no cost costcalc counts; keeps a channel shuffle in progress."""
    w.alias(node, w.val(node.args[0]))


def _channel_shuffle(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0)
    w.emit(node, "channel_shuffle", {"G": int(_arg(node, 1, "groups", 1))}, [x], "channel_shuffle")


def _split(w: _Walk, node: Any) -> None:
    """chunk / split / split_with_sizes along channels: each used piece is a ``channel_split``
    keeping its channels (a view: every count 0; which channels does not change a count)."""
    x = w.tensor(node, 0)
    name = _op_name(node)
    dim = int(_arg(node, 2, "dim", 0))
    if dim % len(x.shape) != 1 or len(x.shape) != 4:
        raise _Skip(f"a split along dimension {dim} (costcalc splits channels)")
    pieces = node.meta["val"]
    shapes = [tuple(_dim(s) for s in p.shape) for p in pieces]
    made: dict[int, View] = {}

    def get(i: int) -> View:
        if i not in made:
            assert w.graph is not None
            c = shapes[i][1]
            fields = {} if same_size(c * 2, x.shape[1]) and i == 0 else {"M": c}
            t = w.graph.emit("channel_split", fields, [x.tensor], shapes[i], w.scope(node),
                             f"{name.split('.')[1]}{i}", f"{name} ({node.name})")
            made[i] = View(t, shapes[i])
        return made[i]

    w.values[node] = _Multi(get)


@dataclass
class _Subsample:
    """``x[:, :, ::s, ::s]``: every s-th row and column, waiting for the channel zero-pad that
    makes it ResNet's option A shortcut (``pad_shortcut``)."""

    src: View
    sh: int
    sw: int
    node: str


def _slice(w: _Walk, node: Any) -> None:
    """A slice: of channels, a ``channel_split`` keeping them (a view); of H or W with a step and
    nothing cut off, a subsample for :func:`_pad`; a full slice is the tensor itself."""
    v = w.val(node.args[0])
    src = v.src if isinstance(v, _Subsample) else v
    if not isinstance(src, View) or src.flat or len(src.shape) != 4:
        raise _Skip("a slice of a value costcalc does not follow")
    name = _op_name(node)
    dim = int(_arg(node, 1, "dim", 0)) % 4
    if name.startswith("aten.narrow"):
        start, length, step = int(_arg(node, 2, "start", 0)), _arg(node, 3, "length", None), 1
        end = start + int(length)
    else:
        start, end, step = _arg(node, 2, "start", None), _arg(node, 3, "end", None), int(_arg(node, 4, "step", 1))
        start = 0 if start is None else int(start)
    size = src.shape[dim]
    whole = start == 0 and (end is None or (isinstance(end, int) and isinstance(size, int) and end >= size)
                            or (isinstance(end, int) and end >= 1 << 62))
    if whole and step == 1:
        w.alias(node, v)
        return
    if dim in (2, 3) and whole and isinstance(v, (View, _Subsample)):
        sh, sw = (v.sh, v.sw) if isinstance(v, _Subsample) else (1, 1)
        w.values[node] = _Subsample(src, step if dim == 2 else sh, step if dim == 3 else sw, node.name)
        return
    if dim == 2 and start == 0 and end == 1 and step == 1 and isinstance(v, View) and _column(w, v):
        _select_token(w, node, v)  # x[:, :, :1] of (1, D, L, 1) tokens: the class token (costcalc's build)
        return
    if dim != 1 or step != 1 or isinstance(v, _Subsample):
        raise _Skip(f"a slice along dimension {dim} (costcalc slices channels only)")
    out = w.shape(node)
    w.emit(node, "channel_split", {"M": out[1]}, [src], "slice")


def _pad(w: _Walk, node: Any) -> None:
    """Zero channels appended to a (subsampled) map: ResNet's option A shortcut, ``pad_shortcut``."""
    v = w.val(node.args[0])
    pads = [int(p) for p in _arg(node, 1, "pad", [])]
    mode = _arg(node, 2, "mode", "constant") if _op_name(node).startswith("aten.pad") else "constant"
    value = _arg(node, 3 if _op_name(node).startswith("aten.pad") else 2, "value", None)
    src = v.src if isinstance(v, _Subsample) else v
    if not isinstance(src, View) or src.flat or len(src.shape) != 4:
        raise _Skip("a pad of a value costcalc does not follow")
    if mode != "constant" or value not in (None, 0, 0.0) or len(pads) != 6 or pads[:5] != [0, 0, 0, 0, 0]:
        raise _Skip(f"a pad {pads} that is not zero channels appended (ResNet's option A shortcut)")
    sh, sw = (v.sh, v.sw) if isinstance(v, _Subsample) else (1, 1)
    if sh != sw:
        raise _Skip("a subsample with different steps along H and W")
    fields: dict[str, Any] = {"M": int(src.shape[1]) + pads[5]}
    if sh != 1:
        fields["S"] = sh
    w.emit(node, "pad_shortcut", fields, [src], "shortcut")


def _getitem(w: _Walk, node: Any) -> None:
    v = w.val(node.args[0])
    if isinstance(v, _Multi):
        item = v.get(int(node.args[1]))
        if item is None:
            raise _Skip("an output costcalc does not follow")
        w.values[node] = item
        return
    raise _Skip("an item of a value costcalc does not follow")


def _dropout(w: _Walk, node: Any) -> None:
    w.alias(node, w.val(node.args[0]))


def _layer_scale(w: _Walk, node: Any, p: _Param) -> None:
    """A learnable per-channel scale times the map (ConvNeXt's ``layer_scale``, C × 1 × 1)."""
    i = 0 if w.val(node.args[1]) is p else 1
    x = w.tensor(node, i, spatial=False)
    c = x.shape[-1] if x.cl or x.tokens else x.shape[1]
    if not p.is_param or p.numel != c or len(x.shape) not in (3, 4):
        raise _Skip(f"a multiply by a parameter of shape {p.shape} (a layer scale has one value per channel)")
    w.use(p)
    w.emit(node, "layer_scale", {}, [x], "layer_scale", cl=x.cl)


def _pos_embed(w: _Walk, node: Any, p: _Param) -> None:
    """A learnable position embedding added to the tokens (ViT): one D-vector per token."""
    i = 0 if w.val(node.args[1]) is p else 1
    x = w.tensor(node, i, spatial=False)
    n = 3 if _column(w, x) else 2  # (1, D, L, 1) tokens of costcalc's own build, or (1, L, D)
    if not p.is_param or not (x.tokens or n == 3) \
            or tuple(p.shape[-n:]) != tuple(w.concrete(s) for s in x.shape[1:]):
        raise _Skip(f"an add of a parameter of shape {p.shape} (not a position embedding of the tokens)")
    w.use(p)
    w.emit(node, "pos_embed", {}, [x], "pos_embed")


def _permute(w: _Walk, node: Any) -> None:
    """Channels-last and back (ConvNeXt), or a map's positions as tokens (ViT): layouts costcalc's
    H × W × C does not distinguish."""
    v = w.val(node.args[0])
    dims = [int(d) for d in node.args[1]]
    if isinstance(v, _Tokens) and dims == [0, 2, 1]:
        _tokens(w, node, v)
        return
    if not isinstance(v, View) or v.flat or len(v.shape) != 4:
        raise _Skip(f"a permutation {dims} costcalc does not follow")
    if not v.cl and dims == [0, 2, 3, 1]:
        w.alias(node, v, shape=w.shape(node), cl=True)
        return
    if v.cl and dims == [0, 3, 1, 2]:
        w.alias(node, v, shape=w.shape(node), cl=False)
        return
    raise _Skip(f"a permutation {dims} costcalc does not follow")


def _tokens(w: _Walk, node: Any, v: _Tokens) -> None:
    """(1, C, H·W) → (1, H·W, C), or (1, C, H·W, 1): a map's positions as tokens. A map that is
    one column already (W = 1: tokens in costcalc's own build) is its own token sequence."""
    if w.concrete(v.src.shape[3]) == 1:
        w.alias(node, v.src, shape=w.shape(node))
        return
    w.emit(node, "tokens", {}, [v.src], "tokens")


@dataclass
class _Tokens:
    """(1, C, H, W) reshaped to (1, C, H·W), waiting for the transpose that makes it tokens."""

    src: View


def _layer_norm(w: _Walk, node: Any) -> None:
    x = w.tensor(node, 0, spatial=False)
    shape = [int(s) for s in _arg(node, 1, "normalized_shape", [])]
    weight, bias = w.param(node, 2, "weight"), w.param(node, 3, "bias")
    last = x.shape[-1]
    vector = len(x.shape) == 2 and not x.flat  # (1, C): MaxViT's classifier normalises the pooled features
    if not (x.cl or x.tokens or vector) or len(shape) != 1 or not same_size(shape[0], last):
        raise _Skip(f"a layer norm over {shape} of a {len(x.shape)}-D tensor (costcalc's normalises the "
                    "channels at each position)")
    if weight is None or bias is None:
        raise _Skip("a layer norm without affine parameters (costcalc counts γ and β)")
    w.use(weight, bias)
    w.emit(node, "layernorm", {}, [x], "ln", cl=x.cl)


def _class_token(w: _Walk, node: Any) -> None:
    """``torch.cat([class_token.expand(n, -1, -1), tokens], dim=1)``: prepend a class token."""
    items = node.args[0]
    first = w.val(items[0]) if items else None
    if len(items) != 2 or not isinstance(first, _Expanded):
        raise _Skip("a concatenation of tokens that is not a class token")
    x = w.val(items[1])
    dim = int(_arg(node, 1, "dim", 0))
    if isinstance(x, View) and _column(w, x):  # (1, D, L, 1): costcalc's own build of the tokens
        width, along = x.shape[1], 2
    elif isinstance(x, View) and x.tokens:
        width, along = x.shape[-1], 1
    else:
        raise _Skip("a class token that does not match the tokens")
    if first.param.numel != w.concrete(width) or dim % len(x.shape) != along:
        raise _Skip("a class token that does not match the tokens")
    w.use(first.param)
    w.emit(node, "class_token", {}, [x], "class_token")


@dataclass
class _Expanded:
    """A parameter broadcast over the batch (``class_token.expand(n, -1, -1)``)."""

    param: _Param


def _expand(w: _Walk, node: Any) -> None:
    p = w.val(node.args[0])
    if isinstance(p, _Param) and p.is_param:
        w.values[node] = _Expanded(p)
        return
    v = w.val(node.args[0])
    if isinstance(v, View) and same_shape(w.shape(node), v.shape):
        w.alias(node, v)
        return
    raise _Skip("a broadcast of a tensor to a larger shape")


def _column(w: _Walk, x: View) -> bool:
    """A (1, D, L, 1) map: L tokens of width D as costcalc's own PyTorch build lays them out."""
    return len(x.shape) == 4 and not x.flat and not x.cl and w.concrete(x.shape[3]) == 1


def _select_token(w: _Walk, node: Any, x: View) -> None:
    w.emit(node, "select_token", {}, [x], "select_token")


def _select(w: _Walk, node: Any) -> None:
    """``x[:, 0]`` of the tokens: the class token, which the classifier reads (ViT)."""
    x = w.tensor(node, 0, spatial=False)
    dim, index = int(_arg(node, 1, "dim", 0)), int(_arg(node, 2, "index", 0))
    if not x.tokens or dim % 3 != 1 or index != 0:
        raise _Skip(f"a selection of item {index} along dimension {dim}")
    _select_token(w, node, x)


#: operators a folded module may contain besides its layers: views and copies, no arithmetic
_VIEWS = {"aten.transpose.int", "aten.unflatten.int", "aten.unsqueeze.default", "aten.squeeze.dim",
          "aten.contiguous.default", "aten.select.int", "aten.view.default", "aten.reshape.default",
          "aten.permute.default", "aten.dropout.default", "aten.clone.default", "aten._unsafe_view.default",
          "_operator.getitem", "aten.sym_size.int", "aten.expand.default"}


def _fold_attention(w: _Walk, scope: tuple[str, ...], run: Sequence[Any]) -> bool:
    """``nn.MultiheadAttention`` as costcalc's ``attention``: self-attention (one input tensor for
    query, key and value) of L tokens of width D, with the QKV and output projections and
    ``scaled_dot_product_attention`` between them; everything else in the module is a view. The
    heads come from the attention's query (1, h, L, D/h). Returns False when the module is anything
    else (its operators are then walked one by one)."""
    inside = set(run)
    names = [_op_name(n) for n in run]
    if names.count("aten.linear.default") != 2 or names.count("aten.scaled_dot_product_attention.default") != 1:
        return False
    if any(n not in _VIEWS | {"aten.linear.default", "aten.scaled_dot_product_attention.default"} for n in names):
        return False
    sources = {a for n in run for a in _flatten_args(n.args) if hasattr(a, "op") and a not in inside}
    views = [w.val(a) for a in sources if isinstance(w.val(a), View)]
    params = [w.val(a) for a in sources if isinstance(w.val(a), _Param)]
    outputs = [n for n in run if any(u not in inside for u in n.users)]
    if len(views) != 1 or not views[0].tokens or len(outputs) != 1:
        return False
    x = views[0]
    sdpa = next(n for n in run if _op_name(n) == "aten.scaled_dot_product_attention.default")
    heads = int(w.concrete(w.shape(sdpa.args[0])[1]))
    d = w.concrete(x.shape[-1])
    biases = [p for p in params if len(p.shape) == 1]
    if sum(p.numel for p in params) != 4 * d * d + (4 * d if biases else 0) or len(params) not in (2, 4):
        return False
    w.use(*params)
    w.emit(outputs[0], "attention", {"heads": heads} if biases else {"heads": heads, "bias": False}, [x],
           "attention", scope=scope)
    return True


#: operators that do no multiply-add (FlopCounterMode counts none of them): the window partitions,
#: shifts, masks, position-bias gathers and elementwise arithmetic of windowed attention. A folded
#: module's multiply-adds (linear, matmul, einsum) are counted one by one by each fold.
_NO_MACS = _VIEWS | {
    "aten.pad.default", "aten.constant_pad_nd.default", "aten.roll.default", "aten.slice.Tensor",
    "aten.cat.default", "aten.index.Tensor", "aten.add.Tensor", "aten.sub.Tensor", "aten.mul.Tensor",
    "aten.div.Tensor", "aten.new_zeros.default", "aten.zeros.default", "aten.copy_.default",
    "aten.fill_.Scalar", "aten.fill_.Tensor", "aten.zero_.default", "aten.scalar_tensor.default",
    "aten.masked_fill.Scalar", "aten.masked_fill_.Scalar", "aten.ne.Scalar", "aten.eq.Scalar",
    "aten.where.self", "aten.lift_fresh_copy.default", "aten.alias.default", "aten.detach.default",
    "aten.softmax.int", "aten._softmax.default", "aten.relu.default", "aten.relu_.default",
    "aten.sigmoid.default", "aten.clamp.default", "aten.clamp_min.default", "aten.exp.default",
    "aten.linalg_vector_norm.default", "aten.expand_as.default", "aten.swapaxes.default",
    "aten.chunk.default", "aten.split.Tensor", "aten.layer_norm.default", "aten.gelu.default",
    "aten.dropout_.default", "aten.transpose.int", "aten.unsqueeze.default", "aten.flatten.using_ints"}


def _run_parts(w: _Walk, run: Sequence[Any]) -> tuple[list[str], list[View], list[_Param], list[Any]]:
    """A module's operators: their names, the tensors it reads from outside (views), the
    learnable parameters it reads, and its nodes read from outside (its outputs)."""
    inside = set(run)
    names = [_op_name(n) for n in run]
    sources = list(dict.fromkeys(a for n in run for a in _flatten_args(n.args)
                                 if hasattr(a, "op") and a not in inside))
    views = [w.val(a) for a in sources if isinstance(w.val(a), View)]
    params = [w.val(a) for a in sources if isinstance(w.val(a), _Param) and w.val(a).is_param]
    outputs = [n for n in run if any(u not in inside for u in n.users)]
    return names, views, params, outputs


def _counted(names: Sequence[str], **expected: int) -> bool:
    """Whether the module does exactly the multiply-adds ``expected`` (op short name → count,
    e.g. ``linear=2, matmul=2``) and nothing else but operators without multiply-adds."""
    counts = {op: sum(1 for n in names if n == f"aten.{op}.default") for op in expected}
    known = {f"aten.{op}.default" for op in expected}
    return counts == expected and all(n in known or n in _NO_MACS for n in names)


def _params_named(params: Sequence[_Param], suffix: str) -> _Param | None:
    found = [p for p in params if p.name.endswith(suffix)]
    return found[0] if len(found) == 1 else None


def _fold_window_attention(w: _Walk, scope: tuple[str, ...], run: Sequence[Any]) -> bool:
    """torchvision's ``ShiftedWindowAttention`` (V2: ``ShiftedWindowAttentionV2``) as costcalc's
    ``window_attention``: on a channels-last (1, H, W, C) map, exactly the QKV and output
    projections and two matmuls (V2: and the position-bias MLP's two linears), everything else an
    operator without multiply-adds (pad, roll, window partition, mask, bias gather, softmax). The
    heads and window come from the bias table (V1: ((2w − 1)², h)) or the logit scale (V2: (h, 1,
    1)) and the coordinates table (2w − 1 per side); the shift from the roll."""
    names, views, params, outputs = _run_parts(w, run)
    v2 = any(p.name.endswith("logit_scale") for p in params)
    if not _counted(names, linear=4 if v2 else 2, matmul=2):
        return False
    if names.count("aten.softmax.int") != 1 or len(views) != 1 or len(outputs) != 1:
        return False
    x = views[0]
    if not x.cl or len(x.shape) != 4:
        return False
    c = w.concrete(x.shape[-1])
    qkv_w, proj_w = _params_named(params, "qkv.weight"), _params_named(params, "proj.weight")
    qkv_b, proj_b = _params_named(params, "qkv.bias"), _params_named(params, "proj.bias")
    if qkv_w is None or proj_w is None or qkv_w.shape != (3 * c, c) or proj_w.shape != (c, c):
        return False
    if (qkv_b is None) != (proj_b is None):
        return False
    fields: dict[str, Any] = {}
    expected = 4 * c * c + (4 * c if qkv_b is not None else 0)
    if v2:
        scale, fc1 = _params_named(params, "logit_scale"), _params_named(params, "cpb_mlp.0.weight")
        fc1_b, fc2 = _params_named(params, "cpb_mlp.0.bias"), _params_named(params, "cpb_mlp.2.weight")
        coords = [w.val(a) for n in run for a in _flatten_args(n.args)
                  if isinstance(w.val(a), _Param) and w.val(a).name.endswith("relative_coords_table")]
        if None in (scale, fc1, fc1_b, fc2) or not coords or len(coords[0].shape) != 4:
            return False
        heads, hidden, side = scale.shape[0], fc1.shape[0], coords[0].shape[1]
        if fc1.shape != (hidden, 2) or fc2.shape != (heads, hidden) or side % 2 == 0:
            return False
        expected += heads + hidden * (3 + heads)
        fields["v2"] = True
        if hidden != 512:
            fields["cpb"] = hidden
    else:
        table = _params_named(params, "relative_position_bias_table")
        if table is None or len(table.shape) != 2:
            return False
        heads = table.shape[1]
        side = round(table.shape[0] ** 0.5)
        if side * side != table.shape[0] or side % 2 == 0:
            return False
        expected += table.numel
    if sum(p.numel for p in params) != expected or c % heads:
        return False
    window = (side + 1) // 2
    rolls = [n for n in run if _op_name(n) == "aten.roll.default"]
    shift = max((abs(int(s)) for s in _ints(_arg(rolls[0], 1, "shifts", [0]))), default=0) if rolls else 0
    w.use(*params)
    fields = {"heads": heads, "window": window, **({"shift": shift} if shift else {}), **fields}
    if qkv_b is None:
        fields["bias"] = False
    w.emit(outputs[0], "window_attention", fields, [x], "attention", cl=True, scope=scope)
    return True


def _fold_patch_merging(w: _Walk, scope: tuple[str, ...], run: Sequence[Any]) -> bool:
    """torchvision's ``PatchMerging`` (V2: ``PatchMergingV2``) as costcalc's ``patch_merging``:
    the 2 × 2 neighbours of a channels-last map gathered by strided slices and concatenated, one
    layer norm and one linear without bias, in either order (the norm first: V1)."""
    names, views, params, outputs = _run_parts(w, run)
    if not _counted(names, linear=1) or names.count("aten.layer_norm.default") != 1 \
            or names.count("aten.cat.default") != 1 or len(views) != 1 or len(outputs) != 1:
        return False
    x = views[0]
    if not x.cl or len(x.shape) != 4:
        return False
    c = w.concrete(x.shape[-1])
    weight = _params_named(params, "reduction.weight")
    if weight is None or weight.shape[1] != 4 * c:
        return False
    m = weight.shape[0]
    v2 = names.index("aten.linear.default") < names.index("aten.layer_norm.default")
    if sum(p.numel for p in params) != 4 * c * m + 2 * (m if v2 else 4 * c):
        return False
    w.use(*params)
    fields: dict[str, Any] = {} if m == 2 * c else {"M": m}
    if v2:
        fields["v2"] = True
    w.emit(outputs[0], "patch_merging", fields, [x], "patch_merging", cl=True, scope=scope)
    return True


def _fold_partition_attention(w: _Walk, scope: tuple[str, ...], run: Sequence[Any]) -> bool:
    """MaxViT's ``PartitionAttentionLayer`` as costcalc's ``partition_attention``: on an
    (1, C, H, W) map, a window (or grid: ``swapaxes``) partition, then exactly LayerNorm,
    attention with a relative position bias table (QKV and merge linears, two einsums), add,
    LayerNorm, MLP (two linears, GELU), add; everything else is views and elementwise work."""
    names, views, params, outputs = _run_parts(w, run)
    if not _counted(names, linear=4, einsum=2) or names.count("aten.layer_norm.default") != 2 \
            or names.count("aten.gelu.default") != 1 or len(views) != 1 or len(outputs) != 1:
        return False
    x = views[0]
    if x.cl or x.flat or len(x.shape) != 4:
        return False
    gelu = next(n for n in run if _op_name(n) == "aten.gelu.default")
    if _arg(gelu, 1, "approximate", "none") != "none":
        return False
    c = w.concrete(x.shape[1])
    table = _params_named(params, "relative_position_bias_table")
    if table is None or len(table.shape) != 2:
        return False
    heads, side = table.shape[1], round(table.shape[0] ** 0.5)
    if side * side != table.shape[0] or side % 2 == 0 or c % heads:
        return False
    hidden = w.concrete(w.shape(gelu)[-1])
    expected = 4 * c * c + 4 * c + table.numel + 2 * c * hidden + hidden + c + 4 * c
    if sum(p.numel for p in params) != expected:
        return False
    w.use(*params)
    fields: dict[str, Any] = {"heads": heads, "window": (side + 1) // 2}
    if hidden != 4 * c:
        fields["B"] = hidden
    if "aten.swapaxes.default" in names:
        fields["grid"] = True
    w.emit(outputs[0], "partition_attention", fields, [x], "partition_attention", scope=scope)
    return True


# ----------------------------------------------------------------------------------------------
# Self-attention written by hand (timm's Attention, HuggingFace-style q/k/v, costcalc's own build)

#: the operators of attention's scores and context (a module holding one may be self-attention)
_ATTENTION_CORE = {"aten.scaled_dot_product_attention.default", "aten.matmul.default", "aten.bmm.default",
                   "aten.einsum.default", "aten.softmax.int", "aten._softmax.default"}
_SDPA = "aten.scaled_dot_product_attention.default"
_MATMULS = {"aten.matmul.default", "aten.bmm.default", "aten.einsum.default"}
_SOFTMAXES = {"aten.softmax.int", "aten._softmax.default"}
#: a multiply or divide by a number: attention's 1/√(D/h), on Q, on K or on the scores
_SCALES = {"aten.mul.Tensor", "aten.div.Tensor"}
#: operators that pass their first argument's values on (views, copies, splits, dropout at eval):
#: the dataflow of a hand-written attention is followed through them
_PASS = (_VIEWS - {"aten.sym_size.int"}) | {
    "aten.unbind.int", "aten.chunk.default", "aten.split.Tensor", "aten.split_with_sizes.default",
    "aten.flatten.using_ints", "aten.dropout_.default", "aten.feature_dropout.default", "aten.alias.default",
    "aten.detach.default", "aten.swapaxes.default", "aten.t.default"}


def _paths(node: Any) -> list[str]:
    """The module paths a node runs in, outermost first (the root module and PyTorch's placeholder
    scopes left out)."""
    stack = node.meta.get("nn_module_stack") or {}
    return [p for p, _ in stack.values() if isinstance(p, str) and p and not p.startswith("_empty")]


def _attention_scopes(nodes: Sequence[Any]) -> set[str]:
    """For each attention operator (scaled dot-product attention, a matmul, a softmax), the smallest
    module scope around it that also holds a linear layer: where the projections of a self-attention
    written by hand would be. Costcalc's own build of ``attention`` spreads the scores, softmax and
    context over sibling modules; their enclosing ``attention`` module is the scope found."""
    with_linear: set[str] = set()
    for n in nodes:
        if n.op == "call_function" and _op_name(n) == "aten.linear.default":
            with_linear.update(_paths(n))
    found: set[str] = set()
    for n in nodes:
        if n.op == "call_function" and _op_name(n) in _ATTENTION_CORE:
            path = next((p for p in reversed(_paths(n)) if p in with_linear), None)
            if path is not None:
                found.add(path)
    return found


def _producer(node: Any, inside: set[Any]) -> Any:
    """The node whose values ``node`` carries: followed back through views, copies and splits
    inside the module (a node outside the module is returned as it is)."""
    while hasattr(node, "op") and node in inside and _op_name(node) in _PASS:
        node = node.args[0]
    return node


def _numel(shape: Sequence[Any]) -> Any:
    n: Any = 1
    for s in shape:
        n = n * s
    return n


def _operands(node: Any) -> list[Any]:
    """The two tensors of a matmul, bmm or einsum."""
    if _op_name(node) == "aten.einsum.default":
        return list(node.args[1])
    return list(node.args[:2])


def _product_macs(w: _Walk, node: Any) -> Any:
    """Multiply-adds of a matmul / bmm (output elements × the contracted size) or of a two-operand
    einsum without ellipsis (the product of the sizes of all its indices)."""
    a, b = _operands(node)
    if _op_name(node) != "aten.einsum.default":
        return _numel(w.shape(node)) * w.shape(a)[-1]
    eq = str(node.args[0]).replace(" ", "")
    ins = eq.split("->")[0].split(",")
    if "." in eq or len(ins) != 2:
        raise ValueError(f"einsum {eq!r}")
    sizes: dict[str, Any] = {}
    for letters, t in zip(ins, (a, b)):
        sizes.update(zip(letters, w.shape(t)))
    return _numel(sizes.values())


def _fold_self_attention(w: _Walk, scope: tuple[str, ...], run: Sequence[Any]) -> str | None:
    """Self-attention written by hand, whatever the module's class, as costcalc's ``attention``
    (4·L·D² + 2·L²·D MACs, 4·D² + 4·D params with biases) — only on an exact match: the module
    reads one tensor x of L tokens of width D (a (1, L, D) sequence, a (1, D, H, W) or channels-last
    map) and returns one of the same shape; its multiply-adds are exactly the Q, K, V projections of
    x (one Linear(D, 3D) or three Linear(D, D), biases on all four or none), the scores and context
    (one ``scaled_dot_product_attention`` without mask, causality or dropout; or Q·Kᵀ, at most one
    multiply or divide by a number, softmax over the keys and ·V, as matmul, bmm or einsum) and one
    output projection Linear(D, D) that makes the output; every other operator is a view, a copy or
    a dropout (the identity at inference). The graph's multiply-adds, computed from its shapes, and
    its parameters must equal attention's closed forms. The heads come from the scores' shape.
    Returns None when folded, else why not (said if an attention operator is then refused)."""
    inside = set(run)
    tensors = [n for n in run if _has_tensor(n.meta.get("val"))]
    names = [_op_name(n) for n in tensors]
    other = sorted({n for n in names if n not in _PASS | _ATTENTION_CORE | _SCALES | {"aten.linear.default"}})
    if other:
        return f"it also runs {', '.join(other)}"
    sources = list(dict.fromkeys(a for n in run for a in _flatten_args(n.args) if hasattr(a, "op")
                                 and a not in inside and _has_tensor(a.meta.get("val"))
                                 and not isinstance(w.val(a), _Param)))
    # (a size computed here, e.g. L = H·W, may be read by later modules: not an output)
    outputs = [n for n in tensors if any(u not in inside for u in n.users)]
    if len(sources) != 1:
        return f"it reads {len(sources)} tensors (self-attention takes query, key and value from one)"
    x_node, x = sources[0], w.val(sources[0])
    if not isinstance(x, View) or x.flat:
        return "its input is not a tensor costcalc follows"
    if len(outputs) != 1:
        return f"it returns {len(outputs)} tensors"
    if x.tokens:
        L, D = x.shape[1], x.shape[2]
    elif len(x.shape) == 4:
        L, D = (x.shape[1] * x.shape[2], x.shape[3]) if x.cl else (x.shape[2] * x.shape[3], x.shape[1])
    else:
        return f"its input is a {len(x.shape)}-D tensor"
    if not same_shape(w.shape(outputs[0]), x.shape):
        return "its output's shape is not its input's"
    d = w.concrete(D)

    linears = [n for n, name in zip(tensors, names) if name == "aten.linear.default"]
    if len(linears) not in (2, 4):
        return (f"it has {len(linears)} linear layers (self-attention: a fused QKV projection or three, "
                "and an output projection)")
    proj = _producer(outputs[0], inside)
    if proj not in linears:
        return "its output is not made by its output projection"
    projections = [n for n in linears if n is not proj]
    if any(_producer(n.args[0], inside) is not x_node for n in projections):
        return "a Q, K or V projection does not read the module's input"
    weights = [w.val(n.args[1]) for n in linears]
    biases = [w.val(n.args[2]) if len(n.args) > 2 and n.args[2] is not None else None for n in linears]
    if not all(isinstance(p, _Param) and p.is_param for p in weights + [b for b in biases if b is not None]):
        return "a projection's weight or bias is not a parameter"
    if len({b is None for b in biases}) != 1:
        return "some projections have biases and some do not"
    fused = len(projections) == 1
    want = [(3 * d, d)] if fused else [(d, d)] * 3
    if [w.val(n.args[1]).shape for n in projections] != want or w.val(proj.args[1]).shape != (d, d):
        return "the projections are not Linear(D, 3D) or 3 × Linear(D, D), and Linear(D, D)"

    sdpas = [n for n, name in zip(tensors, names) if name == _SDPA]
    products = [n for n, name in zip(tensors, names) if name in _MATMULS]
    softmaxes = [n for n, name in zip(tensors, names) if name in _SOFTMAXES]
    scales = [n for n, name in zip(tensors, names) if name in _SCALES]
    context = _producer(proj.args[0], inside)
    if sdpas:
        if len(sdpas) != 1 or products or softmaxes or scales or context is not sdpas[0]:
            return "its scaled dot-product attention is not exactly between the projections"
        sdpa = sdpas[0]
        if _arg(sdpa, 3, "attn_mask", None) is not None:
            return "scaled dot-product attention with a mask (attn_mask)"
        if _arg(sdpa, 5, "is_causal", False):
            return "causal attention (is_causal=True)"
        if float(_arg(sdpa, 4, "dropout_p", 0.0) or 0.0) != 0.0:
            return "attention dropout in the graph (dropout_p > 0)"
        if sdpa.kwargs.get("enable_gqa", False):
            return "grouped-query attention (enable_gqa=True)"
        qkv = list(sdpa.args[:3])
        srcs = [_producer(a, inside) for a in qkv]
        q, k, v = (w.shape(a) for a in qkv)
        scores = (*q[:-1], k[-2])
        core_macs = _numel(scores) * q[-1] + _numel(scores) * v[-1]
    else:
        if len(products) != 2 or len(softmaxes) != 1 or len(scales) > 1 or context not in products:
            return (f"its products are not Q·Kᵀ, softmax, ·V ({len(products)} matmuls, {len(softmaxes)} "
                    f"softmaxes, {len(scales)} scalings)")
        for s in scales:
            numbers = [a for a in s.args[:2] if isinstance(a, (int, float))]
            if len(numbers) != 1 or (_op_name(s) == "aten.div.Tensor" and s.args[1] is not numbers[0]):
                return f"{_op_name(s)} that is not a scaling by a number"
        used_scales: list[Any] = []

        def through_scale(node: Any) -> Any:
            p = _producer(node, inside)
            if p in scales:
                used_scales.append(p)
                p = _producer(next(a for a in p.args[:2] if hasattr(a, "op")), inside)
            return p

        softmax = softmaxes[0]
        ctx_in = [_producer(a, inside) for a in _operands(context)]
        if softmax not in ctx_in:
            return "the ·V product does not read the softmax"
        v_arg = _operands(context)[1 - ctx_in.index(softmax)]
        score = next(n for n in products if n is not context)
        if through_scale(softmax.args[0]) is not score:
            return "the softmax does not read the scores Q·Kᵀ"
        rank = len(w.shape(softmax))
        if int(_arg(softmax, 1, "dim", -1)) % rank != rank - 1:
            return "a softmax that is not over the keys"
        qk = [through_scale(a) for a in _operands(score)]
        if len(used_scales) != len(scales):
            return "a scaling that is not of Q, K or the scores"
        qkv = [*_operands(score), v_arg]
        srcs = [*qk, _producer(v_arg, inside)]
        scores = w.shape(score)
        core_macs = _product_macs(w, score) + _product_macs(w, context)
    if any(p not in projections for p in srcs) or len(set(qkv)) != 3 \
            or (not fused and set(srcs) != set(projections)):
        return "query, key and value are not the three projections of the one input (not self-attention)"

    heads = int(w.concrete(_numel(scores[:-2])))  # batch 1: the scores are (1, h, L, L) or (h, L, L)
    if heads < 1 or d % heads:
        return f"{heads} heads do not divide the width {d}"
    macs = sum((_numel(w.shape(n)[:-1]) * p.shape[0] * p.shape[1] for n, p in zip(linears, weights)), 0)
    if not same_size(macs + core_macs, 4 * L * D * D + 2 * L * L * D):
        return "its multiply-adds are not attention's 4·L·D² + 2·L²·D"
    bias = biases[0] is not None
    params = weights + [b for b in biases if b is not None]
    if sum(p.numel for p in params) != 4 * d * d + (4 * d if bias else 0):
        return "its parameters are not attention's 4·D² + 4·D (4·D² without biases)"
    w.use(*params)
    w.emit(outputs[0], "attention", {"heads": heads} if bias else {"heads": heads, "bias": False}, [x],
           "attention", cl=x.cl, scope=scope)
    return None


def _attention_alone(w: _Walk, node: Any) -> None:
    """Scaled dot-product attention, or a matrix product, that is not inside a module folded into
    ``attention``: refused by name (costcalc has no type for either on its own)."""
    if _op_name(node) == _SDPA:
        raise _Skip("scaled dot-product attention on its own: costcalc's attention type holds the QKV "
                    "and output projections too, so it is counted only where one module does exactly "
                    "those and the attention (folded into attention)")
    raise _Skip("a matrix product: costcalc has no matmul type (attention's Q·Kᵀ and ·V are counted "
                "only inside a self-attention module folded into attention)")


#: module class → whole-module fold (attention: its dozens of ATen views are one costcalc layer)
MODULE_FOLDS: dict[str, Callable[[_Walk, tuple[str, ...], Sequence[Any]], bool]] = {
    "MultiheadAttention": _fold_attention,
    "ShiftedWindowAttention": _fold_window_attention,
    "ShiftedWindowAttentionV2": _fold_window_attention,
    "PatchMerging": _fold_patch_merging,
    "PatchMergingV2": _fold_patch_merging,
    "PartitionAttentionLayer": _fold_partition_attention,
}


#: ATen operator → handler. Activations are one line each; so is every new costcalc type.
OPS: dict[str, Callable[[_Walk, Any], None]] = {
    "aten.conv2d.default": _conv,
    "aten.conv2d.padding": _conv,
    "aten.convolution.default": _conv,
    "aten._convolution.default": _conv,
    "aten.linear.default": _linear,
    "aten.batch_norm.default": _batchnorm,
    "aten._native_batch_norm_legit_no_training.default": _batchnorm_tuple,
    **{f"aten.{op}.default": _activation(kind) for op, kind in (
        ("relu", "relu"), ("relu_", "relu"), ("relu6", "relu6"), ("hardswish", "hardswish"),
        ("hardswish_", "hardswish"), ("hardsigmoid", "hardsigmoid"), ("hardsigmoid_", "hardsigmoid"),
        ("sigmoid", "sigmoid"), ("sigmoid_", "sigmoid"), ("silu", "silu"), ("silu_", "silu"),
        ("tanh", "tanh"), ("tanh_", "tanh"))
       if kind in ACTIVATION_TYPES},
    "aten.hardtanh.default": _hardtanh,
    "aten.hardtanh_.default": _hardtanh,
    "aten.gelu.default": _gelu,
    "aten.gelu_.default": _gelu,
    "aten.max_pool2d.default": _maxpool,
    "aten.max_pool2d_with_indices.default": _maxpool,
    "aten.avg_pool2d.default": _avgpool,
    "aten.adaptive_avg_pool2d.default": _adaptive_avg,
    "aten._adaptive_avg_pool2d.default": _adaptive_avg,
    "aten.adaptive_max_pool2d.default": _adaptive_max,
    "aten.mean.dim": _mean,
    "aten.add.Tensor": _add,
    "aten.add_.Tensor": _add,
    "aten.mul.Tensor": _mul,
    "aten.mul_.Tensor": _mul,
    "aten.cat.default": _cat,
    "aten.concat.default": _cat,
    "aten.flatten.using_ints": _flatten,
    "aten.view.default": _reshape,
    "aten.reshape.default": _reshape,
    "aten._unsafe_view.default": _reshape,
    "aten.unflatten.int": _reshape,
    "aten.unsqueeze.default": _reshape,
    "aten.squeeze.dim": _reshape,
    "aten.squeeze.dims": _reshape,
    "aten.transpose.int": _transpose,
    "aten.contiguous.default": _pass_shuffle,
    "aten.clone.default": _pass_shuffle,
    "aten.detach.default": _identity,
    "aten.alias.default": _identity,
    "aten.dropout.default": _dropout,
    "aten.dropout_.default": _dropout,
    "aten.feature_dropout.default": _dropout,
    "aten.alpha_dropout.default": _dropout,
    "aten.channel_shuffle.default": _channel_shuffle,
    "aten.native_channel_shuffle.default": _channel_shuffle,
    "aten.chunk.default": _split,
    "aten.split.Tensor": _split,
    "aten.split_with_sizes.default": _split,
    "aten.slice.Tensor": _slice,
    "aten.narrow.default": _slice,
    "aten.pad.default": _pad,
    "aten.constant_pad_nd.default": _pad,
    "_operator.getitem": _getitem,
    "aten.permute.default": _permute,
    "aten.layer_norm.default": _layer_norm,
    "aten.expand.default": _expand,
    "aten.select.int": _select,
    "aten.group_norm.default": _group_norm,
    "aten.native_group_norm.default": _group_norm,
    "aten.conv_transpose2d.input": _conv_transpose,
    "aten.upsample_nearest2d.vec": _upsample("nearest"),
    "aten.upsample_nearest2d.default": _upsample("nearest"),
    "aten.upsample_bilinear2d.vec": _upsample("bilinear"),
    "aten.upsample_bilinear2d.default": _upsample("bilinear"),
    "aten.softmax.int": _softmax,
    "aten._softmax.default": _softmax,
    # attention outside a folded module, a product of two tensors: refused by name, never a zero
    "aten.scaled_dot_product_attention.default": _attention_alone,
    "aten.matmul.default": _attention_alone,
    "aten.bmm.default": _attention_alone,
    "aten.einsum.default": _attention_alone,
}


# ----------------------------------------------------------------------------------------------
# The front end


@dataclass
class TorchImport:
    """What :func:`import_torch` gives: the graph, how its sizes appear in the spec, and what the
    model's own forward pass counts (for the check)."""

    graph: Graph
    sizes: SizeVars
    name: str
    model: Any
    input_shape: tuple[int, int, int]
    unused_params: int
    params_used: int


def import_torch(target: str, kwargs: Mapping[str, Any] | None = None,
                 input_shape: tuple[int, int, int] = (3, 224, 224),
                 timeout: float | None = EXPORT_TIMEOUT) -> TorchImport:
    """Build, trace and walk ``package.module:callable``."""
    model = load_model(target, kwargs)
    return import_module(model, target.split(":", 1)[1].rsplit(".", 1)[-1], input_shape, target, timeout)


def import_module(model: Any, name: str, input_shape: tuple[int, int, int] = (3, 224, 224),
                  source: str | None = None, timeout: float | None = EXPORT_TIMEOUT) -> TorchImport:
    """Trace and walk a ``torch.nn.Module`` (moved to the meta device: no weights are read), with
    the input's height and width dynamic. With a ``timeout`` (POSIX: in a forked child), a trace
    that takes longer is abandoned for one at the fixed input size, and the notes say so."""
    import os
    import threading

    model = model.to("meta").eval()
    target = source or name
    if timeout and hasattr(os, "fork") and threading.current_thread() is threading.main_thread():
        result = in_child(lambda: trace(model, name, input_shape, target, True), timeout)
        if result is TIMED_OUT:
            result = trace(model, name, input_shape, target, False)
            result.graph.notes.insert(0, f"torch.export did not finish a trace with a dynamic input size in "
                                         f"{timeout:g} s (--export-timeout); traced at the fixed size "
                                         f"{input_shape[1]}×{input_shape[2]} instead: the spec has no size variable")
    else:
        result = trace(model, name, input_shape, target, True)
    result.model = model
    return result


def trace(model: Any, name: str, input_shape: tuple[int, int, int], target: str, dynamic: bool) -> TorchImport:
    """Export and walk: the graph, its size variables, and the parameters it reads."""
    ep = export(model, input_shape, target, dynamic)
    sizes = _size_vars(ep, input_shape)
    walk = _Walk(ep, sizes)
    with _quiet():
        graph = walk.run()
    used = 0
    unused = 0
    shared = []
    for node in ep.graph.nodes:
        p = walk.values.get(node)
        if not isinstance(p, _Param) or not p.is_param:
            continue
        if not node.users:
            unused += p.numel
            continue
        used += p.numel
        n = walk.param_uses.get(p.name, 0)
        if n > 1:
            shared.append(f"{p.name} ({n} layers)")
    if unused:
        graph.notes.append(f"{unused:,} parameters are never used by the model's forward pass at inference "
                           "(e.g. auxiliary classifiers) and are not counted")
    if shared:
        graph.notes.append(f"parameters shared by several layers are counted in each: {', '.join(shared[:5])}"
                           + (" ..." if len(shared) > 5 else ""))
    return TorchImport(graph, sizes, name, None, input_shape, unused, used)


def _size_vars(ep: Any, input_shape: tuple[int, int, int]) -> SizeVars:
    """The spec variables for the input's height and width: ``resolution`` for a square input,
    ``height`` and ``width`` otherwise; a size that ``torch.export`` fixed stays a number."""
    from torch.export.graph_signature import InputKind

    user = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == user[0])
    _, h, w = input_shape
    hs, ws = (_dim(s) for s in node.meta["val"].shape[2:])
    names: dict[str, str] = {}
    defaults: dict[str, int] = {}
    if h == w:
        for s in (hs, ws):
            if not isinstance(s, int):
                names[str(s)] = "resolution"
                defaults["resolution"] = h
    else:
        for s, var, v in ((hs, "height", h), (ws, "width", w)):
            if not isinstance(s, int):
                names[str(s)] = var
                defaults[var] = v
    return SizeVars(names, defaults)


def torch_reference(model: Any, input_shape: tuple[int, int, int]) -> int:
    """PyTorch's own count of ``model`` on a (1, C, H, W) meta input: the FlopCounterMode total."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    c, h, w = input_shape
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter, _quiet():
        model(torch.zeros(1, c, h, w, device="meta"))
    return int(counter.get_total_flops())


__all__ = ["import_torch", "import_module", "load_model", "torch_reference", "OPS", "TorchImport"]
