"""An ONNX model as a costcalc graph, with ``dim_param`` sizes kept symbolic.

ONNX files carry their weights (tens to hundreds of MB). The file is memory-mapped and its protobuf
wire format walked directly (:func:`read_graph`): nodes, inputs and small constant tensors are
parsed; every large initializer contributes only its name, type and dims — its bytes are skipped,
never read. External data files are never opened.

Shapes are computed by costcalc's own rules, not by ONNX shape inference (which gives every Conv
output a fresh unknown and loses the link to the input size): each operator becomes a costcalc
layer, and the layer's ``out_shape`` is the next operator's input. The subgraphs that compute
shapes at run time (``Shape → Gather → Unsqueeze → Concat → Reshape``) are folded: their values
are evaluated here, over the symbolic sizes, and cost nothing. Fused patterns are recognised
before the walk: ``x · sigmoid(x)`` is SiLU, ``x · hardsigmoid(x)`` hard-swish, the ``Erf``
expansion GELU.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from costcalc.importer.ir import (
    Graph,
    ImportFailure,
    ImportUsageError,
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

#: a constant tensor with at most this many elements is read (shape arithmetic, pads, scales)
SMALL = 64


# ----------------------------------------------------------------------------------------------
# Reading the file: the protobuf wire format, skipping weight payloads


class _Wire:
    """A protobuf message in a buffer: iterate (field number, wire type, value) where a
    length-delimited value is a (start, end) range, never copied."""

    def __init__(self, buf: Any, start: int, end: int, what: str) -> None:
        self.buf, self.start, self.end, self.what = buf, start, end, what

    def varint(self, pos: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            if pos >= self.end:
                raise _Truncated(self.what)
            b = self.buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result, pos
            shift += 7
            if shift > 63:
                raise _NotOnnx(f"a malformed number in {self.what}")

    def fields(self) -> Iterator[tuple[int, int, Any]]:
        pos = self.start
        while pos < self.end:
            key, pos = self.varint(pos)
            num, wt = key >> 3, key & 7
            if num == 0:
                raise _NotOnnx(f"field number 0 in {self.what}")
            if wt == 0:
                v, pos = self.varint(pos)
                yield num, wt, v
            elif wt == 1:
                if pos + 8 > self.end:
                    raise _Truncated(self.what)
                yield num, wt, (pos, pos + 8)
                pos += 8
            elif wt == 2:
                n, pos = self.varint(pos)
                if pos + n > self.end:
                    raise _Truncated(self.what)
                yield num, wt, (pos, pos + n)
                pos += n
            elif wt == 5:
                if pos + 4 > self.end:
                    raise _Truncated(self.what)
                yield num, wt, (pos, pos + 4)
                pos += 4
            else:
                raise _NotOnnx(f"wire type {wt} in {self.what}")


class _Truncated(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _NotOnnx(Exception):
    pass


@dataclass
class Initializer:
    """A weight of the graph: name, element type, dims, and its values when small."""

    name: str
    data_type: int
    dims: tuple[int, ...]
    #: the values (a numpy array) of a small initializer; None for a weight
    values: Any = None

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass
class OnnxGraph:
    """What :func:`read_graph` keeps of a model: its graph, never its weights."""

    name: str
    opset: int
    nodes: list[Any]
    inputs: list[Any]
    outputs: list[Any]
    initializers: dict[str, Initializer]
    producer: str = ""


#: ModelProto and GraphProto field numbers (onnx.proto)
_MODEL_IR_VERSION, _MODEL_OPSET, _MODEL_PRODUCER, _MODEL_GRAPH = 1, 8, 2, 7
_GRAPH_NODE, _GRAPH_NAME, _GRAPH_INIT, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 2, 5, 11, 12
#: TensorProto fields
_T_DIMS, _T_TYPE, _T_NAME, _T_EXTERNAL, _T_LOCATION = 1, 2, 8, 13, 14


def read_graph(path: str) -> OnnxGraph:
    """The graph of the ONNX file at ``path``, without its weights. A file that is not an ONNX
    model, or is cut short, is a one-line error."""
    import onnx
    from google.protobuf.message import DecodeError

    shown = "".join(ch if ch.isprintable() else "?" for ch in path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise ImportUsageError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ImportUsageError(f"{shown}: is a directory, not an ONNX file") from None
    except OSError as e:
        raise ImportUsageError(f"{shown}: cannot read: {e.strerror or e}") from None
    with f:
        if not os.path.isfile(path):
            raise ImportUsageError(f"{shown}: not a regular file")
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ImportFailure(f"{shown}: empty file, not an ONNX model")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return _parse(buf, size, shown, onnx)
        except _Truncated as e:
            raise ImportFailure(f"{shown}: truncated ONNX file ({size:,} bytes; {e.what} runs past the end)") from None
        except _NotOnnx as e:
            raise ImportFailure(f"{shown}: not an ONNX model ({e})") from None
        except DecodeError as e:
            raise ImportFailure(f"{shown}: not an ONNX model (a part of it does not decode: "
                                f"{' '.join(str(e).split())[:120]})") from None
        finally:
            buf.close()


def _parse(buf: Any, size: int, shown: str, onnx: Any) -> OnnxGraph:
    model = _Wire(buf, 0, size, "the model")
    graph_range = None
    opset = 0
    seen_ir = False
    producer = ""
    for num, wt, v in model.fields():
        if num == _MODEL_IR_VERSION and wt == 0:
            seen_ir = True
        elif num == _MODEL_GRAPH and wt == 2:
            graph_range = v
        elif num == _MODEL_OPSET and wt == 2:
            op = onnx.OperatorSetIdProto.FromString(bytes(buf[v[0]:v[1]]))
            if op.domain in ("", "ai.onnx"):
                opset = max(opset, int(op.version))
        elif num == _MODEL_PRODUCER and wt == 2:
            producer = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
        elif num > 30 or wt not in (0, 2):
            raise _NotOnnx(f"unexpected field {num} in the model")
    if graph_range is None or not seen_ir:
        raise _NotOnnx("no graph" if seen_ir else "no IR version")
    g = _Wire(buf, graph_range[0], graph_range[1], "the graph")
    nodes: list[Any] = []
    inputs: list[Any] = []
    outputs: list[Any] = []
    inits: dict[str, Initializer] = {}
    name = ""
    for num, wt, v in g.fields():
        if wt != 2:
            continue
        data = bytes(buf[v[0]:v[1]]) if num != _GRAPH_INIT else None
        if num == _GRAPH_NODE:
            nodes.append(onnx.NodeProto.FromString(data))
        elif num == _GRAPH_INPUT:
            inputs.append(onnx.ValueInfoProto.FromString(data))
        elif num == _GRAPH_OUTPUT:
            outputs.append(onnx.ValueInfoProto.FromString(data))
        elif num == _GRAPH_NAME:
            name = data.decode("utf-8", "replace") if data else ""
        elif num == _GRAPH_INIT:
            init = _initializer(buf, v, onnx)
            inits[init.name] = init
    if opset == 0:
        opset = 13
    return OnnxGraph(name, opset, nodes, inputs, outputs, inits, producer)


def _initializer(buf: Any, rng: tuple[int, int], onnx: Any) -> Initializer:
    """Name, type and dims of a TensorProto; its values only if it is small (the bytes of a
    weight are skipped, never read)."""
    t = _Wire(buf, rng[0], rng[1], "an initializer")
    dims: list[int] = []
    name, dtype = "", 0
    external = False
    for num, wt, v in t.fields():
        if num == _T_DIMS:
            if wt == 0:
                dims.append(v)
            elif wt == 2:
                packed = _Wire(buf, v[0], v[1], "initializer dims")
                pos = v[0]
                while pos < v[1]:
                    d, pos = packed.varint(pos)
                    dims.append(d)
        elif num == _T_TYPE and wt == 0:
            dtype = v
        elif num == _T_NAME and wt == 2:
            name = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
        elif num in (_T_EXTERNAL, _T_LOCATION):
            external = external or (num == _T_LOCATION and v == 1) or num == _T_EXTERNAL
    init = Initializer(name, dtype, tuple(dims))
    if init.numel <= SMALL and not external:
        from onnx import numpy_helper

        proto = onnx.TensorProto.FromString(bytes(buf[rng[0]:rng[1]]))
        init.values = numpy_helper.to_array(proto)
    return init


# ----------------------------------------------------------------------------------------------
# Values during the walk


class _Const:
    """A small tensor whose values are known here (shape arithmetic, pads, axes): a numpy array.
    The walk is numeric, so every value is a number."""

    def __init__(self, arr: Any) -> None:
        import numpy as np

        self.arr = np.asarray(arr)
        if self.arr.size > SMALL * SMALL:
            raise _Skip(f"a constant of {self.arr.size} elements computed at run time")

    @property
    def values(self) -> list[Any]:
        return self.arr.reshape(-1).tolist()

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.arr.shape)

    def scalar(self) -> Any:
        if self.arr.size != 1:
            raise _Skip(f"expected one value, got {self.arr.size}")
        return self.values[0]


@dataclass
class _Weight:
    """A large initializer: only its name and dims are known."""

    init: Initializer


class _Cascade(Exception):
    """An input comes from an operator already reported as unsupported."""


#: the value of an unsupported operator's outputs (without --allow-unknown)
MISSING = object()


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Node:
    """An ONNX node as the walk sees it (also a fused pattern: ``op`` is then costcalc's name)."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    scope: tuple[str, ...]
    fused: str = ""


# ----------------------------------------------------------------------------------------------
# The walk


class _Walk:
    def __init__(self, og: OnnxGraph, sizes: SizeVars, allow_unknown: bool) -> None:
        self.og = og
        self.sizes = sizes
        self.allow_unknown = allow_unknown
        self.values: dict[str, Any] = {}
        self.graph: Graph | None = None
        self.consumers: dict[str, int] = {}
        self.users: dict[str, list[_Node]] = {}
        self.origin: dict[int, str] = {}
        self.opset = og.opset

    # -- values -------------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        if not name:
            return None
        if name in self.values:
            v = self.values[name]
            if v is MISSING:
                raise _Cascade()
            return v
        init = self.og.initializers.get(name)
        if init is not None:
            v: Any = _Const(init.values) if init.values is not None else _Weight(init)
            self.values[name] = v
            return v
        raise _Skip(f"input {name!r} is not produced by any earlier node")

    def view(self, node: _Node, i: int, *, spatial: bool = True) -> View:
        v = self.value(node.inputs[i]) if i < len(node.inputs) else None
        if isinstance(v, Shuffle):
            raise _Skip(f"a reshape to 5-D that is not a channel shuffle (node {v.node})")
        if isinstance(v, _Padded):
            raise _Skip(f"a Pad (node {v.node}) that costcalc cannot fold into this operator")
        if not isinstance(v, View):
            raise _Skip(f"input {i} is not a tensor costcalc follows")
        if spatial and v.flat:
            raise _Skip("on a flattened feature map (costcalc keeps H×W×C there)")
        if spatial and v.cl:
            raise _Skip("on a channels-last tensor (a channel-wise layer expects N×C×H×W)")
        if spatial and len(v.shape) not in (2, 4):
            raise _Skip(f"on a {len(v.shape)}-D tensor (costcalc layers take N×C×H×W maps or N×F vectors)")
        return v

    def padded(self, node: _Node) -> tuple[View, int, int]:
        """Input 0 and the zero padding a Pad before it adds (folded into this conv or pool)."""
        v = self.value(node.inputs[0])
        if isinstance(v, _Padded):
            return v.src, v.ph, v.pw
        return self.view(node, 0), 0, 0

    def weight(self, node: _Node, i: int, what: str) -> Initializer | None:
        if i >= len(node.inputs) or not node.inputs[i]:
            return None
        v = self.value(node.inputs[i])
        if isinstance(v, _Weight):
            return v.init
        if isinstance(v, _Const) and isinstance(self.og.initializers.get(node.inputs[i]), Initializer):
            return self.og.initializers[node.inputs[i]]
        if isinstance(v, _Const):
            return Initializer(node.inputs[i], 1, v.dims, v.arr)
        raise _Skip(f"its {what} is computed at run time, not a weight of the graph")

    def const(self, node: _Node, i: int) -> _Const | None:
        if i >= len(node.inputs) or not node.inputs[i]:
            return None
        v = self.value(node.inputs[i])
        if not isinstance(v, _Const):
            raise _Skip(f"input {i} must be a constant (a shape or an axis list)")
        return v

    def sole(self, node: _Node, v: View) -> bool:
        src = node.inputs[0]
        return self.origin.get(id(v.tensor)) == src and self.consumers.get(src, 0) == 1

    def emit(self, node: _Node, type_: str, fields: Mapping[str, Any], inputs: Sequence[View], name: str,
             flat: bool = False, out: str | None = None, cl: bool = False) -> View:
        """Add a costcalc layer; its output shape is costcalc's rule applied to the inputs (a
        channels-last view of it when ``cl``)."""
        assert self.graph is not None
        shape = self.out_shape(type_, fields, inputs)
        t = self.graph.emit(type_, fields, [v.tensor for v in inputs], shape, node.scope, name,
                            f"{node.op} ({node.name})")
        key = out if out is not None else node.outputs[0]
        self.origin[id(t)] = key
        view = View(t, (shape[0], shape[2], shape[3], shape[1]) if cl else shape, flat, cl)
        self.values[key] = view
        return view

    def out_shape(self, type_: str, fields: Mapping[str, Any], inputs: Sequence[View]) -> tuple[Any, ...]:
        from costcalc.cost import Shape
        from costcalc.layers.base import DimError, get_type

        layer = get_type(type_).make(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        shapes = [_hwc(v) for v in inputs]
        try:
            layer.check(*shapes)
            y: Shape = layer.out_shape(*shapes)
        except DimError as e:
            raise _Skip(f"costcalc's {type_} refuses it: {e}") from None
        x = inputs[0]
        if len(x.shape) == 2 and not x.flat and y.h == 1 and y.w == 1:
            return (1, y.c)
        if x.flat and type_ not in ("fc",):
            return x.shape
        if type_ == "fc":
            return (1, y.c)
        return (1, y.c, y.h, y.w)

    # -- the walk ------------------------------------------------------------------------------
    def run(self, nodes: list[_Node], input_name: str, input_shape: tuple[Any, ...]) -> Graph:
        t = Tensor(input_shape)
        self.graph = Graph(t)
        self.values[input_name] = View(t, input_shape)
        self.origin[id(t)] = input_name
        for node in nodes:
            for i in node.inputs:
                self.consumers[i] = self.consumers.get(i, 0) + 1
                self.users.setdefault(i, []).append(node)
        for node in nodes:
            handler = OPS.get(node.op)
            try:
                if handler is None:
                    if any(self.values.get(i) is MISSING for i in node.inputs):
                        raise _Cascade()
                    raise _Skip("")
                handler(self, node)
            except _Skip as e:
                self.unsupported(node, e.reason)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
                # attributes or inputs of a form the handler does not read
                self.unsupported(node, f"inputs costcalc cannot read ({type(e).__name__}: {' '.join(str(e).split())[:200]})")
            except _Cascade:  # an input comes from an unsupported operator, reported there
                for o in node.outputs:
                    self.values[o] = MISSING
        outs = [self.values.get(o.name) for o in self.og.outputs]
        views = [o for o in outs if isinstance(o, View)]
        self.graph.output = views[0].tensor if views else None
        return self.graph

    def unsupported(self, node: _Node, reason: str) -> None:
        assert self.graph is not None
        ins = []
        first: View | None = None
        for n in node.inputs:
            v = self.values.get(n)
            if isinstance(v, View):
                ins.append(shape_text(self._concrete(v.shape)))
                first = first or v
        where = ".".join(node.scope)
        self.graph.unsupported.append(Unsupported(node.op, node.name, where, tuple(ins), "?", reason))
        if first is None:
            for o in node.outputs:
                self.values[o] = MISSING
            return
        # The walk goes on with an 'unknown' row in its place (its output shape taken to be its
        # input's, said in the notes), so that one error lists every operator costcalc cannot count.
        if self.allow_unknown:
            self.graph.notes.append(f"the unknown operator {node.op} ({node.name}) is taken to keep its input's "
                                    "shape")
        for o in node.outputs[:1]:
            self.emit(node, "unknown", {"op": node.op}, [first], node.op.lower(), flat=first.flat, out=o)

    def _concrete(self, shape: Sequence[Any]) -> tuple[Any, ...]:
        out = []
        for s in shape:
            try:
                out.append(self.sizes.concrete(s))
            except Exception:  # noqa: BLE001 - a message: show the expression
                out.append(s)
        return tuple(out)


def _hwc(v: View) -> Any:
    """costcalc's H × W × C of a view: its tensor's (a flattened or channels-last view is the same
    tensor to costcalc)."""
    from costcalc.cost import Shape

    if v.flat or v.cl:
        return Shape(*_hwc_of(v.tensor.shape))
    return Shape(*_hwc_of(v.shape))


def _hwc_of(s: Sequence[Any]) -> tuple[Any, Any, Any]:
    if len(s) == 4:
        return (s[2], s[3], s[1])
    n: Any = 1
    for d in s[1:]:
        n = n * d
    return (1, 1, n)


# ----------------------------------------------------------------------------------------------
# Operators


def _attr(node: _Node, name: str, default: Any = None) -> Any:
    return node.attrs.get(name, default)


def _conv(w: _Walk, node: _Node) -> None:
    x, ph, pw = w.padded(node)
    if len(x.shape) != 4 or x.flat:
        raise _Skip("a convolution on a tensor that is not N×C×H×W")
    wt = w.weight(node, 1, "weight")
    bias = w.weight(node, 2, "bias")
    assert wt is not None
    if len(wt.dims) != 4:
        raise _Skip(f"a {len(wt.dims) - 2}-D convolution (costcalc's are 2-D)")
    m, _, kh, kw = wt.dims
    k = _attr(node, "kernel_shape", [kh, kw])
    s = _attr(node, "strides", [1, 1])
    d = _attr(node, "dilations", [1, 1])
    g = int(_attr(node, "group", 1))
    p = _pads(node, (kh, kw), d, (ph, pw))
    type_, fields = conv_fields(n=int(x.shape[1]), m=m, k=k, s=s, p=p, d=d, g=g, bias=bias is not None)
    _check_pairs(type_, fields)
    w.emit(node, type_, fields, [x], "conv")


def _pads(node: _Node, k: Sequence[int], d: Sequence[int], extra: tuple[int, int] = (0, 0)) -> list[int]:
    """Symmetric padding per axis, plus ``extra`` from a Pad folded in. ``auto_pad`` SAME_* with an
    odd kernel is costcalc's default ("same": output ⌈H/S⌉, the same size and the same count);
    uneven padding is refused."""
    auto = _attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if extra != (0, 0):
        if auto not in ("NOTSET", "VALID"):
            raise _Skip(f"a Pad before a node with auto_pad {auto}")
        pads = list(_attr(node, "pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
        n = len(pads) // 2
        if pads[:n] != pads[n:]:
            raise _Skip(f"uneven padding {pads} (costcalc pads both sides equally)")
        return [pads[0] + extra[0], pads[1] + extra[1]]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if any((di * (ki - 1)) % 2 for di, ki in zip(d, k)):
            raise _Skip(f"auto_pad {auto} with an even kernel pads unevenly")
        return [di * (ki - 1) // 2 for di, ki in zip(d, k)]
    if auto == "VALID":
        return [0, 0]
    pads = list(_attr(node, "pads", [0, 0, 0, 0]))
    n = len(pads) // 2
    begin, end = pads[:n], pads[n:]
    if begin != end:
        raise _Skip(f"uneven padding {pads} (costcalc pads both sides equally)")
    return begin


def _check_pairs(type_: str, fields: Mapping[str, Any]) -> None:
    from costcalc.importer.torch_import import supports_pairs

    if needs_pairs(*fields.values()) and not supports_pairs(type_):
        raise _Skip(f"a non-square kernel, stride, padding or dilation needs [h, w] values in {type_}, which "
                    "this version of costcalc does not have yet")


def _pending(what: str, needs: str) -> None:
    raise _Skip(f"{what} needs {needs}, which this version of costcalc does not have yet")


def _gemm(w: _Walk, node: _Node) -> None:
    x = w.view(node, 0, spatial=False)
    wt = w.weight(node, 1, "weight")
    bias = w.weight(node, 2, "bias")
    assert wt is not None
    if _attr(node, "transA", 0):
        raise _Skip("Gemm with transA")
    f, m = (wt.dims[1], wt.dims[0]) if _attr(node, "transB", 0) else wt.dims
    _fc(w, node, x, f, m, bias is not None)


def _fc(w: _Walk, node: _Node, x: View, f: int, m: int, bias: bool) -> None:
    n: Any = 1
    for s in x.shape[1:]:
        n = n * s
    if not same_size(n, f):
        raise _Skip(f"a linear layer on {f} features of a {shape_text(w._concrete(x.shape))} tensor")
    w.emit(node, "fc", {"M": m} if bias else {"M": m, "bias": False}, [x], "fc")


def _matmul(w: _Walk, node: _Node) -> None:
    x = w.view(node, 0, spatial=False)
    v = w.value(node.inputs[1])
    if not isinstance(v, (_Weight, _Const)) or len(_dims(v)) != 2:
        raise _Skip("a product of two activations (attention) or with a computed matrix")
    f, m = _dims(v)
    if x.cl:  # nn.Linear on every position of a channels-last map (ConvNeXt)
        if x.shape[-1] != f:
            raise _Skip(f"a matrix of {f} rows on {x.shape[-1]} channels")
        w.emit(node, "linear", {"M": m, "bias": False}, [x], "linear", cl=True)
        return
    _fc(w, node, x, f, m, False)


def _dims(v: Any) -> tuple[int, ...]:
    return v.init.dims if isinstance(v, _Weight) else v.dims


def _batchnorm(w: _Walk, node: _Node) -> None:
    x = w.view(node, 0)
    assert w.graph is not None
    if len(x.shape) == 4:
        folded = w.graph.fold_post(x.tensor, "bn", True, node.scope, w.sole(node, x), f"{node.op} ({node.name})")
        if folded is not None:
            w.origin[id(folded)] = node.outputs[0]
            w.values[node.outputs[0]] = View(folded, x.shape)
            return
    w.emit(node, "batchnorm", {}, [x], "bn")


def _activation(kind: str) -> Callable[[_Walk, _Node], None]:
    def handler(w: _Walk, node: _Node) -> None:
        _act(w, node, w.view(node, 0, spatial=False), kind)

    return handler


def _act(w: _Walk, node: _Node, x: View, kind: str) -> None:
    assert w.graph is not None
    if not x.flat and len(x.shape) == 4:
        folded = w.graph.fold_post(x.tensor, "act", kind, node.scope, w.sole(node, x), f"{node.op} ({node.name})")
        if folded is not None:
            w.origin[id(folded)] = node.outputs[0]
            w.values[node.outputs[0]] = View(folded, x.shape)
            return
    w.emit(node, kind, {}, [x], kind, flat=x.flat, cl=x.cl)


def _clip(w: _Walk, node: _Node) -> None:
    if w.opset >= 11:
        lo = w.const(node, 1)
        hi = w.const(node, 2)
        bounds = (lo.scalar() if lo else None, hi.scalar() if hi else None)
    else:
        bounds = (_attr(node, "min"), _attr(node, "max"))
    if bounds == (0, 6) or bounds == (0.0, 6.0):
        _act(w, node, w.view(node, 0, spatial=False), "relu6")
    elif bounds[0] in (0, 0.0) and bounds[1] is None:
        _act(w, node, w.view(node, 0, spatial=False), "relu")
    else:
        raise _Skip(f"Clip({bounds[0]}, {bounds[1]}) is neither ReLU nor ReLU6")


def _hardsigmoid(w: _Walk, node: _Node) -> None:
    alpha, beta = float(_attr(node, "alpha", 0.2)), float(_attr(node, "beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise _Skip(f"HardSigmoid(alpha={alpha:g}, beta={beta:g}) is not relu6(x + 3)/6")
    _act(w, node, w.view(node, 0, spatial=False), "hardsigmoid")


def _gelu(w: _Walk, node: _Node) -> None:
    approx = _attr(node, "approximate", b"none")
    if (approx.decode() if isinstance(approx, bytes) else approx) != "none":
        raise _Skip("GELU with the tanh approximation (costcalc's gelu is the erf form)")
    _act(w, node, w.view(node, 0, spatial=False), "gelu")


def _conv_transpose(w: _Walk, node: _Node) -> None:
    """ConvTranspose (weight N × M/G × K × K; ``group``, ``strides``, ``pads``, ``output_padding``,
    ``dilations``) as costcalc's ``conv_transpose``, whose output size is PyTorch's (and ONNX's with
    explicit pads): (H − 1)·S − 2P + D·(K − 1) + output_padding + 1."""
    x = w.view(node, 0)
    if len(x.shape) != 4:
        raise _Skip("a transposed convolution on a tensor that is not N×C×H×W")
    wt = w.weight(node, 1, "weight")
    bias = w.weight(node, 2, "bias")
    assert wt is not None
    if len(wt.dims) != 4:
        raise _Skip(f"a {len(wt.dims) - 2}-D transposed convolution (costcalc's are 2-D)")
    if _attr(node, "output_shape") is not None:
        raise _Skip("a transposed convolution given its output_shape (its padding is implicit)")
    auto = _attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto not in ("NOTSET", "VALID"):
        raise _Skip(f"a transposed convolution with auto_pad {auto}")
    n_in, m_per_group, kh, kw = wt.dims
    pads = list(_attr(node, "pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
    if pads[:2] != pads[2:]:
        raise _Skip(f"uneven padding {pads} (costcalc pads both sides equally)")
    g = int(_attr(node, "group", 1))
    values = {"K": list(_attr(node, "kernel_shape", [kh, kw])), "S": list(_attr(node, "strides", [1, 1])),
              "P": pads[:2], "output_padding": list(_attr(node, "output_padding", [0, 0])),
              "D": list(_attr(node, "dilations", [1, 1]))}
    uneven = [f"{k}={v}" for k, v in values.items() if len(v) != 2 or v[0] != v[1]]
    if uneven:
        raise _Skip(f"a transposed convolution with {', '.join(uneven)} (costcalc's conv_transpose is square)")
    defaults = {"K": 3, "S": 1, "P": 0, "output_padding": 0, "D": 1}
    fields: dict[str, Any] = {"M": int(m_per_group) * g}
    fields.update({k: int(v[0]) for k, v in values.items() if v[0] != defaults[k]})
    if g != 1:
        fields["G"] = g
    if bias is not None:
        fields["bias"] = True
    w.emit(node, "conv_transpose", fields, [x], "conv_transpose")


def _resize(w: _Walk, node: _Node) -> None:
    """Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (X, scales, or the
    ``scales`` attribute) by one integer factor on H and W, ``nearest`` or ``linear``, as costcalc's
    ``upsample`` (``bilinear``; ``align_corners`` when the coordinate transformation says so). A
    fractional scale, an output size that is fixed while the input size is not, or different
    factors on H and W are refused by name."""
    x = w.view(node, 0)
    if len(x.shape) != 4:
        raise _Skip("resizing a tensor that is not N×C×H×W")
    mode = _attr(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode not in ("nearest", "linear"):
        raise _Skip(f"resizing in mode {mode} (costcalc's upsample is nearest or bilinear)")
    ctm = _attr(node, "coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else str(ctm)
    if node.op == "Upsample":
        scales = w.const(node, 1) if len(node.inputs) > 1 else None
        factors = [float(v) for v in (scales.values if scales is not None else _attr(node, "scales", []))]
        sizes = None
    else:
        at = 1 if w.opset < 11 else 2
        scales = w.const(node, at)
        sizes = w.const(node, 3) if w.opset >= 11 else None
        factors = [float(v) for v in scales.values] if scales is not None and scales.values else []
    h, wd = (w.sizes.concrete(v) for v in x.shape[2:])
    if factors:
        if len(factors) != 4 or factors[:2] != [1.0, 1.0]:
            raise _Skip(f"resizing by scales {factors} (costcalc's upsample scales H and W)")
        fh, fw = factors[2:]
        if fh != int(fh) or fw != int(fw):
            raise _Skip(f"upsampling by {fh:g} × {fw:g} (costcalc's upsample has an integer scale)")
        kh, kw = int(fh), int(fw)
    elif sizes is not None and len(sizes.values) == 4:
        oh, ow = (int(v) for v in sizes.values[2:])
        if [int(v) for v in sizes.values[:2]] != [int(d) for d in x.shape[:2]] or oh % h or ow % wd:
            raise _Skip(f"resizing {h}×{wd} to {oh}×{ow}, not an integer multiple (costcalc's upsample has an "
                        "integer scale)")
        kh, kw = oh // h, ow // wd
        if w.sizes.names and _fixed(w, node.inputs[3]):
            raise _Skip(f"resizing to a fixed {oh}×{ow} while the input size is a variable (an integer multiple "
                        "only at this size)")
        assert w.graph is not None
        w.graph.notes.append(f"{node.op} ({node.name}) computes its output size at run time: taken as the scale "
                             f"{kh} it has at the default size")
    else:
        raise _Skip("resizing without scales or sizes costcalc can read")
    if kh != kw or kh < 1:
        raise _Skip(f"upsampling by {kh} along H and {kw} along W (costcalc's upsample has one scale)")
    fields: dict[str, Any] = {} if kh == 2 else {"scale": kh}
    if mode == "linear":
        fields["mode"] = "bilinear"
        if ctm == "align_corners":
            fields["align_corners"] = True
    w.emit(node, "upsample", fields, [x], "upsample")


def _fixed(w: _Walk, name: str) -> bool:
    """Whether the value ``name`` is a constant of the graph (an initializer or a Constant node's
    output), not computed from the input's shape."""
    return name in w.og.initializers or any(n.op_type == "Constant" and name in n.output for n in w.og.nodes)


def _group_norm(w: _Walk, node: _Node) -> None:
    """GroupNormalization with a scale and bias per channel (opset 21; opset 18's are per group,
    2·G parameters, which costcalc's ``groupnorm`` does not count)."""
    x = w.view(node, 0)
    g = int(_attr(node, "num_groups", 0))
    scale, bias = w.weight(node, 1, "scale"), w.weight(node, 2, "bias")
    c = int(x.shape[1])
    if scale is None or bias is None or scale.numel != c or bias.numel != c:
        raise _Skip(f"a group norm whose scale and bias are not per channel ({c}): opset 18's per-group "
                    "affine parameters are not costcalc's γ and β")
    w.emit(node, "groupnorm", {"G": g}, [x], "gn")


def _group_norm_pattern(w: _Walk, node: _Node) -> None:
    """PyTorch's TorchScript export of GroupNorm(G, C), fused before the walk (``costcalc.groupnorm``,
    inputs x, the first Reshape's target, γ, β, the InstanceNormalization's scale and bias):
    Reshape to (N, G, −1) → InstanceNormalization with unit scale and zero bias → Reshape back →
    Mul by γ (C × 1 × 1) → Add β. The statistics of each of the G rows are a group's."""
    x = w.view(node, 0)
    if len(x.shape) != 4:
        raise _Skip("a group norm of a tensor that is not N×C×H×W")
    target = w.const(node, 1)
    assert target is not None
    c = int(x.shape[1])
    t = [int(v) for v in target.values]
    if len(t) != 3 or t[0] not in (0, 1) or t[1] < 1 or c % t[1]:
        raise _Skip(f"an InstanceNormalization of a reshape to {t} that is not GroupNorm's (N, G, -1)")
    g = t[1]
    in_scale, in_bias = w.const(node, 4), w.const(node, 5)
    if in_scale is None or in_bias is None or any(v != 1 for v in in_scale.values) \
            or any(v != 0 for v in in_bias.values):
        raise _Skip("an InstanceNormalization with its own scale or bias inside a group norm")
    gamma, beta = w.weight(node, 2, "scale"), w.weight(node, 3, "bias")
    if gamma is None or beta is None or gamma.numel != c or beta.numel != c:
        raise _Skip(f"a group norm whose affine parameters are not one per channel ({c})")
    w.emit(node, "groupnorm", {"G": g}, [x], "gn")


def _instance_norm(w: _Walk, node: _Node) -> None:
    raise _Skip("an InstanceNormalization that is not GroupNorm's exported pattern (Reshape to (N, G, -1), "
                "InstanceNormalization, Reshape back, Mul by γ, Add β)")


def _softmax(w: _Walk, node: _Node) -> None:
    """Softmax over the channels: ``axis`` 1 of an N×F vector or (opset 13+) of an N×C×H×W map,
    the last axis of a channels-last map. Before opset 13, Softmax flattens from ``axis`` on: over a
    map's C·H·W values at once, which is not costcalc's softmax (unless H = W = 1)."""
    x = w.view(node, 0, spatial=False)
    rank = len(x.shape)
    axis = int(_attr(node, "axis", -1 if w.opset >= 13 else 1)) % max(rank, 1)
    spread = [w.sizes.concrete(s) for s in _hwc(x)[:2]]
    if x.flat or rank == 2:
        ok = axis == 1 and rank == 2 and (not x.flat or spread == [1, 1])
    elif rank == 4 and w.opset < 13:
        ok = axis == 1 and spread == [1, 1]
    else:
        ok = rank == 4 and ((not x.cl and axis == 1) or (x.cl and axis == 3))
    if not ok:
        raise _Skip(f"a softmax over axis {axis} of a {rank}-D tensor (opset {w.opset}; costcalc's softmax is over "
                    "the channels at each position)")
    w.emit(node, "softmax", {}, [x], "softmax", flat=x.flat, cl=x.cl)


def _pool_fields(node: _Node, type_: str, k: list[int], s: list[int], p: list[int]) -> dict[str, Any]:
    fields: dict[str, Any] = {"K": pair(k)}
    if pair(s) != pair(k):
        fields["S"] = pair(s)
    if pair(p) != 0:
        fields["P"] = pair(p)
    if _attr(node, "ceil_mode", 0):
        fields["ceil_mode"] = True
    if needs_pairs(*fields.values()):
        from costcalc.importer.torch_import import supports_pairs

        if not supports_pairs(type_):
            _pending("a non-square pooling window", f"[h, w] values in {type_}")
    return fields


def _maxpool(w: _Walk, node: _Node) -> None:
    x, ph, pw = w.padded(node)
    k = list(_attr(node, "kernel_shape"))
    if list(_attr(node, "dilations", [1, 1])) != [1, 1]:
        raise _Skip("max pooling with dilation")
    if len(node.outputs) > 1 and node.outputs[1]:
        raise _Skip("max pooling that also returns indices")
    fields = _pool_fields(node, "maxpool", k, list(_attr(node, "strides", [1, 1])),
                          _pads(node, k, [1, 1], (ph, pw)))
    w.emit(node, "maxpool", fields, [x], "maxpool")


def _avgpool(w: _Walk, node: _Node) -> None:
    x, ph, pw = w.padded(node)
    k = list(_attr(node, "kernel_shape"))
    p = _pads(node, k, [1, 1], (ph, pw))
    fields = _pool_fields(node, "avgpool", k, list(_attr(node, "strides", [1, 1])), p)
    if pair(p) != 0:
        # zeros a Pad put there are averaged over, as count_include_pad does
        include = bool(_attr(node, "count_include_pad", 0)) or (ph, pw) != (0, 0)
        if not include:
            fields["count_include_pad"] = False
    w.emit(node, "avgpool", fields, [x], "avgpool")


def _global_avg(w: _Walk, node: _Node) -> None:
    w.emit(node, "global_avgpool", {}, [w.view(node, 0)], "avgpool")


def _global_max(w: _Walk, node: _Node) -> None:
    w.emit(node, "global_maxpool", {}, [w.view(node, 0)], "maxpool")


def _reduce_mean(w: _Walk, node: _Node) -> None:
    x = w.view(node, 0)
    if w.opset >= 18 and len(node.inputs) > 1:
        c = w.const(node, 1)
        axes = c.values if c else []
    else:
        axes = list(_attr(node, "axes", []))
    rank = len(x.shape)
    if rank != 4 or {int(a) % rank for a in axes} != {2, 3}:
        raise _Skip(f"a mean over axes {axes} (costcalc's global pools average over H and W)")
    v = w.emit(node, "global_avgpool", {}, [x], "mean")
    if not _attr(node, "keepdims", 1):
        w.values[node.outputs[0]] = View(v.tensor, (1, v.shape[1]))


def _add(w: _Walk, node: _Node) -> None:
    a, b = (w.value(n) for n in node.inputs[:2])
    if isinstance(a, _Const) and isinstance(b, _Const):
        _arith(w, node)
        return
    if isinstance(a, View) and isinstance(b, (_Weight, _Const)):
        _bias(w, node, a, b)
        return
    if isinstance(b, View) and isinstance(a, (_Weight, _Const)):
        _bias(w, node, b, a)
        return
    x, y = w.view(node, 0, spatial=False), w.view(node, 1, spatial=False)
    if not same_shape(x.shape, y.shape) or x.flat != y.flat:
        raise _Skip(f"a broadcasting add of {shape_text(x.shape)} and {shape_text(y.shape)}")
    w.emit(node, "add", {}, [x, y], "add", flat=x.flat)


def _bias(w: _Walk, node: _Node, x: View, b: Any) -> None:
    """MatMul + Add of a bias vector: the fc's bias."""
    op = x.tensor.producer
    dims = _dims(b)
    made_by = w.origin.get(id(x.tensor), "")
    if op is not None and op.type in ("fc", "linear") and op.fields.get("bias") is False and made_by == node.inputs[
            0 if isinstance(w.values.get(node.inputs[0]), View) else 1] and w.consumers.get(made_by) == 1 \
            and list(dims)[-1:] == [op.fields["M"]]:
        del op.fields["bias"]
        op.source += f" + {node.op} ({node.name})"
        w.values[node.outputs[0]] = x
        w.origin[id(x.tensor)] = node.outputs[0]
        return
    raise _Skip("an add of a constant (costcalc's add joins two tensors)")


def _mul(w: _Walk, node: _Node) -> None:
    a, b = (w.value(n) for n in node.inputs[:2])
    if isinstance(a, _Const) and isinstance(b, _Const):
        _arith(w, node)
        return
    if isinstance(a, View) != isinstance(b, View) and isinstance(a if isinstance(b, View) else b, (_Weight, _Const)):
        _layer_scale(w, node, a if isinstance(a, View) else b, b if isinstance(a, View) else a)
        return
    if not (isinstance(a, View) and isinstance(b, View)):
        raise _Skip("a multiply by a constant")
    x, g = w.view(node, 0), w.view(node, 1)
    if is_gate(x.shape) and not is_gate(g.shape):
        x, g = g, x
    elif not (is_gate(g.shape) or same_shape(x.shape, g.shape)):
        raise _Skip(f"a broadcasting multiply of {shape_text(x.shape)} and {shape_text(g.shape)}")
    w.emit(node, "mul", {}, [x, g], "mul")


def _layer_scale(w: _Walk, node: _Node, x: View, p: Any) -> None:
    """A map times a learnable per-channel scale (ConvNeXt's ``layer_scale``, C × 1 × 1)."""
    dims = _dims(p)
    c = x.shape[-1] if x.cl else (x.shape[1] if len(x.shape) >= 2 else 0)
    n = 1
    for d in dims:
        n *= d
    if n != c or n <= 1 or x.flat:
        raise _Skip(f"a multiply by a constant of shape {list(dims)} (a layer scale has one value per channel)")
    w.emit(node, "layer_scale", {}, [x], "layer_scale", cl=x.cl)


def _layer_norm(w: _Walk, node: _Node) -> None:
    """LayerNormalization over the channels of a channels-last map (ConvNeXt's LayerNorm2d)."""
    x = w.view(node, 0, spatial=False)
    scale, bias = w.weight(node, 1, "scale"), w.weight(node, 2, "bias")
    axis = int(_attr(node, "axis", -1))
    if not x.cl or axis % len(x.shape) != len(x.shape) - 1 or scale is None or bias is None \
            or scale.dims[-1:] != (x.shape[-1],):
        raise _Skip("a layer norm that is not over the channels at each position, with scale and bias")
    w.emit(node, "layernorm", {}, [x], "ln", cl=True)


def _concat(w: _Walk, node: _Node) -> None:
    vals = [w.value(n) for n in node.inputs]
    if all(isinstance(v, _Const) for v in vals):
        import numpy as np

        w.values[node.outputs[0]] = _Const(np.concatenate([v.arr for v in vals], axis=int(_attr(node, "axis", 0))))
        return
    views = []
    for i in range(len(node.inputs)):
        v = w.view(node, i)
        views.append(v)
    rank = len(views[0].shape)
    if int(_attr(node, "axis", 0)) % rank != 1:
        raise _Skip(f"a concatenation along axis {_attr(node, 'axis')} (costcalc concatenates channels)")
    if len(views) == 1:
        w.values[node.outputs[0]] = views[0]
        return
    w.emit(node, "concat", {}, views, "cat")


def _identity(w: _Walk, node: _Node) -> None:
    w.values[node.outputs[0]] = w.value(node.inputs[0])


def _cast(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    if isinstance(v, _Const):
        from onnx import helper

        w.values[node.outputs[0]] = _Const(v.arr.astype(helper.tensor_dtype_to_np_dtype(int(_attr(node, "to", 1)))))
        return
    w.values[node.outputs[0]] = v


def _flatten(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    if not isinstance(v, (View, Shuffle)):
        raise _Skip("a flatten of a value costcalc does not follow")
    axis = int(_attr(node, "axis", 1))
    if isinstance(v, View) and axis % max(len(v.shape), 1) != 1:
        raise _Skip(f"a flatten at axis {axis}")
    rank = len(v.shape) if isinstance(v, View) else len(v.src.shape) + 1
    shape = v.shape if isinstance(v, View) else (1, v.src.shape[1], *v.src.shape[2:])
    n: Any = 1
    for s in shape[1:]:
        n = n * s
    _reshape_to(w, node, v, (1, n) if rank > 1 else shape)


def _reshape(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    target = w.const(node, 1)
    if isinstance(v, _Const):
        shape = _resolve_shape(v.dims, target.values, bool(_attr(node, "allowzero", 0)))
        w.values[node.outputs[0]] = _Const(v.arr.reshape([int(d) for d in shape]))
        return
    if not isinstance(v, (View, Shuffle)) or target is None:
        raise _Skip("a reshape of a value costcalc does not follow")
    cur = v.shape if isinstance(v, View) else (1, v.groups, v.src.shape[1] // v.groups, *v.src.shape[2:])
    out = _resolve_shape(cur, target.values, bool(_attr(node, "allowzero", 0)))
    _reshape_to(w, node, v, out)


def _resolve_shape(cur: Sequence[Any], target: Sequence[Any], allowzero: bool) -> tuple[Any, ...]:
    """ONNX Reshape's target: 0 copies the input's dimension (unless allowzero), -1 is inferred."""
    out: list[Any] = []
    for i, t in enumerate(target):
        out.append(cur[i] if (t == 0 and not allowzero) else t)
    if any(isinstance(t, int) and t == -1 for t in out):
        total: Any = 1
        for s in cur:
            total = total * s
        known: Any = 1
        for t in out:
            if not (isinstance(t, int) and t == -1):
                known = known * t
        from costcalc.num import div

        out = [div(total, known) if (isinstance(t, int) and t == -1) else t for t in out]
    from costcalc.num import normalize

    return tuple(normalize(t) for t in out)


def _reshape_to(w: _Walk, node: _Node, v: View | Shuffle, out: tuple[Any, ...]) -> None:
    r = reshape(v, out, node.name)
    if isinstance(r, str):
        raise _Skip(r)
    if isinstance(r, Shuffle) and r.stage == 3:
        w.emit(node, "channel_shuffle", {"G": r.groups}, [r.src], "channel_shuffle")
        return
    w.values[node.outputs[0]] = r


def _transpose(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    perm = list(_attr(node, "perm", []))
    if isinstance(v, View) and len(v.shape) == 4 and not v.flat:
        s = v.shape
        if not v.cl and perm == [0, 2, 3, 1]:
            w.values[node.outputs[0]] = View(v.tensor, (s[0], s[2], s[3], s[1]), False, True)
            return
        if v.cl and perm == [0, 3, 1, 2]:
            w.values[node.outputs[0]] = View(v.tensor, (s[0], s[3], s[1], s[2]), False, False)
            return
    if isinstance(v, _Const):
        perm = _attr(node, "perm", None)
        w.values[node.outputs[0]] = _Const(v.arr.transpose(perm) if perm is not None else v.arr.T)
        return
    r = transpose(v, list(_attr(node, "perm", [])))
    if isinstance(r, str):
        raise _Skip(r)
    w.values[node.outputs[0]] = r


def _split(w: _Walk, node: _Node) -> None:
    x = w.view(node, 0)
    axis = int(_attr(node, "axis", 0))
    if len(x.shape) != 4 or axis % 4 != 1:
        raise _Skip(f"a split along axis {axis} (costcalc splits channels)")
    c = int(x.shape[1])
    sizes = None
    if len(node.inputs) > 1 and node.inputs[1]:
        sizes = [int(s) for s in w.const(node, 1).values]  # type: ignore[union-attr]
    elif "split" in node.attrs:
        sizes = [int(s) for s in node.attrs["split"]]
    else:
        n = int(_attr(node, "num_outputs", len(node.outputs)))
        step = -(-c // n)
        sizes = [min(step, c - i * step) for i in range(n)]
    for i, (o, m) in enumerate(zip(node.outputs, sizes)):
        if not o or not w.consumers.get(o):
            continue
        fields = {} if 2 * m == c and i == 0 else {"M": m}
        w.emit(node, "channel_split", fields, [x], f"split{i}", out=o)


def _slice(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    if w.opset >= 10:
        starts, ends = w.const(node, 1), w.const(node, 2)
        axes = w.const(node, 3)
        steps = w.const(node, 4)
        s_vals, e_vals = starts.values, ends.values  # type: ignore[union-attr]
        a_vals = axes.values if axes else list(range(len(s_vals)))
        st_vals = steps.values if steps else [1] * len(s_vals)
    else:
        s_vals, e_vals = _attr(node, "starts"), _attr(node, "ends")
        a_vals = _attr(node, "axes", list(range(len(s_vals))))
        st_vals = [1] * len(s_vals)
    if isinstance(v, _Const):
        index = [slice(None)] * v.arr.ndim
        for a, lo, hi, st in zip(a_vals, s_vals, e_vals, st_vals):
            index[int(a) % v.arr.ndim] = slice(int(lo), int(hi), int(st))  # Python clamps as ONNX does
        w.values[node.outputs[0]] = _Const(v.arr[tuple(index)])
        return
    x = w.view(node, 0)
    rank = len(x.shape)
    if [int(a) % rank for a in a_vals] != [1] or [int(s) for s in st_vals] != [1]:
        raise _Skip("a slice that is not a contiguous range of channels")
    c = int(x.shape[1])
    lo, hi = _clamp(s_vals[0], c), _clamp(e_vals[0], c)
    if (lo, hi) == (0, c):
        w.values[node.outputs[0]] = x
        return
    w.emit(node, "channel_split", {"M": hi - lo}, [x], "slice")


def _clamp(v: Any, n: int) -> int:
    v = int(v)
    if v < 0:
        v += n
    return max(0, min(v, n))


@dataclass
class _Padded:
    """A map zero-padded on H and W, evenly, waiting for the convolution or pooling it feeds
    (the padding becomes theirs: the same output and the same count)."""

    src: View
    ph: int
    pw: int
    node: str


def _pad(w: _Walk, node: _Node) -> None:
    """A constant zero Pad of H and W (evenly on both sides) feeding convolutions or pools."""
    x = w.view(node, 0)
    mode = _attr(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if w.opset >= 11:
        pads_c = w.const(node, 1)
        value_c = w.const(node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
        axes_c = w.const(node, 3) if len(node.inputs) > 3 and node.inputs[3] else None
        pads = [int(p) for p in pads_c.values] if pads_c else []
        value = value_c.scalar() if value_c else 0
        axes = [int(a) % 4 for a in axes_c.values] if axes_c else list(range(4))
    else:
        pads, value, axes = list(_attr(node, "pads", [])), _attr(node, "value", 0.0), list(range(4))
    full = [0] * 8
    for i, a in enumerate(axes):
        full[a], full[a + 4] = pads[i], pads[i + len(axes)]
    users = [u for u in w.users.get(node.outputs[0], [])]
    if mode != "constant" or value not in (0, 0.0) or full[0:2] != [0, 0] or full[4:6] != [0, 0] \
            or full[2] != full[6] or full[3] != full[7]:
        raise _Skip(f"a Pad {pads} ({mode}) that is not an even zero pad of H and W")
    if not users or any(u.op not in ("Conv", "MaxPool", "AveragePool") for u in users):
        raise _Skip("a Pad that does not feed only convolutions and pools (costcalc pads inside them)")
    w.values[node.outputs[0]] = _Padded(x, full[2], full[3], node.name)


def _dropout(w: _Walk, node: _Node) -> None:
    w.values[node.outputs[0]] = w.value(node.inputs[0])


# -- shape arithmetic (folded, never counted) ---------------------------------------------------


def _constant(w: _Walk, node: _Node) -> None:
    from onnx import numpy_helper

    for key in ("value", "value_ints", "value_int", "value_floats", "value_float"):
        if key in node.attrs:
            v = node.attrs[key]
            w.values[node.outputs[0]] = _Const(numpy_helper.to_array(v) if key == "value" else v)
            return
    raise _Skip("a Constant of a kind costcalc does not read")


def _shape(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    if isinstance(v, View):
        dims = list(v.shape)
    elif isinstance(v, Shuffle):
        dims = [1, v.groups, v.src.shape[1] // v.groups, *v.src.shape[2:]]
    elif isinstance(v, (_Const, _Weight)):
        dims = list(_dims(v))
    else:
        raise _Skip("the shape of a value costcalc does not follow")
    start = int(_attr(node, "start", 0))
    end = _attr(node, "end", None)
    vals = dims[start:] if end is None else dims[start:int(end)]
    import numpy as np

    w.values[node.outputs[0]] = _Const(np.array([int(d) for d in vals], dtype=np.int64))


def _gather(w: _Walk, node: _Node) -> None:
    import numpy as np

    data, idx = w.const(node, 0), w.const(node, 1)
    assert data is not None and idx is not None
    w.values[node.outputs[0]] = _Const(np.take(data.arr, idx.arr, axis=int(_attr(node, "axis", 0))))


def _unsqueeze(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    axes = w.const(node, 1).values if len(node.inputs) > 1 else list(_attr(node, "axes", []))  # type: ignore[union-attr]
    if isinstance(v, _Const):
        import numpy as np

        arr = v.arr
        for a in sorted(int(a) % (arr.ndim + len(axes)) for a in axes):
            arr = np.expand_dims(arr, a)
        w.values[node.outputs[0]] = _Const(arr)
        return
    x = w.view(node, 0, spatial=False)
    shape = list(x.shape)
    for a in sorted(int(a) % (len(shape) + len(axes)) for a in axes):
        shape.insert(a, 1)
    _reshape_to(w, node, x, tuple(shape))


def _squeeze(w: _Walk, node: _Node) -> None:
    v = w.value(node.inputs[0])
    axes = w.const(node, 1).values if len(node.inputs) > 1 and node.inputs[1] else \
        list(_attr(node, "axes", []))  # type: ignore[union-attr]
    if isinstance(v, _Const):
        arr = v.arr
        w.values[node.outputs[0]] = _Const(arr.squeeze(tuple(int(a) % arr.ndim for a in axes)) if axes else arr.squeeze())
        return
    x = w.view(node, 0, spatial=False)
    rank = len(x.shape)
    drop = {int(a) % rank for a in axes} if axes else {i for i, s in enumerate(x.shape) if s == 1 and i > 0}
    shape = tuple(s for i, s in enumerate(x.shape) if i not in drop)
    _reshape_to(w, node, x, shape)


def _arith(w: _Walk, node: _Node) -> None:
    """Elementwise arithmetic on constants (numpy broadcasting, ONNX's integer division)."""
    args = [w.const(node, i) for i in range(len(node.inputs))]
    if any(a is None for a in args):
        raise _Skip("arithmetic with a missing input")
    w.values[node.outputs[0]] = _Const(_ARITH[node.op](*(a.arr for a in args)))  # type: ignore[union-attr]


def _div(a: Any, b: Any) -> Any:
    import numpy as np

    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) ^ (b < 0), -q, q)  # integer Div truncates toward zero
    return a / b


def _np(name: str) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        import numpy as np

        return getattr(np, name)(*args)

    return fn


_ARITH: dict[str, Callable[..., Any]] = {
    "Add": _np("add"), "Sub": _np("subtract"), "Mul": _np("multiply"), "Div": _div,
    "Equal": _np("equal"), "Less": _np("less"), "Greater": _np("greater"), "Where": _np("where"),
    "Not": _np("logical_not"), "Min": _np("minimum"), "Max": _np("maximum"), "Abs": _np("abs"),
    "Neg": _np("negative"), "Floor": _np("floor"), "Ceil": _np("ceil"), "Sqrt": _np("sqrt"),
    "Range": _np("arange"),
}


def _const_arith(w: _Walk, node: _Node) -> None:
    _arith(w, node)


def _constant_of_shape(w: _Walk, node: _Node) -> None:
    import numpy as np

    shape = w.const(node, 0)
    assert shape is not None
    fill = np.zeros(1, dtype=np.float32)
    if "value" in node.attrs:
        from onnx import numpy_helper

        fill = numpy_helper.to_array(node.attrs["value"]).reshape(-1)
    n = int(np.prod(shape.arr)) if shape.arr.size else 1
    if n > SMALL * SMALL:
        raise _Skip("a large constant tensor built at run time")
    w.values[node.outputs[0]] = _Const(np.full([int(d) for d in shape.values], fill[0], dtype=fill.dtype))


#: ONNX operator → handler (extend by adding an entry)
OPS: dict[str, Callable[[_Walk, _Node], None]] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "Relu": _activation("relu"),
    "Sigmoid": _activation("sigmoid"),
    "HardSwish": _activation("hardswish"),
    "HardSigmoid": _hardsigmoid,
    "Clip": _clip,
    "Gelu": _gelu,
    "costcalc.silu": _activation("silu"),
    "costcalc.hardswish": _activation("hardswish"),
    "costcalc.gelu": _activation("gelu"),
    "MaxPool": _maxpool,
    "AveragePool": _avgpool,
    "GlobalAveragePool": _global_avg,
    "GlobalMaxPool": _global_max,
    "ReduceMean": _reduce_mean,
    "Add": _add,
    "Mul": _mul,
    "Sub": _const_arith,
    "Div": _const_arith,
    "Concat": _concat,
    "Identity": _identity,
    "Dropout": _dropout,
    "Cast": _cast,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    "Constant": _constant,
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "ConstantOfShape": _constant_of_shape,
    **{op: _const_arith for op in ("Equal", "Less", "Greater", "Where", "Not", "Min", "Max", "Abs", "Neg",
                                   "Floor", "Ceil", "Sqrt", "Range")},
    "ConvTranspose": _conv_transpose,
    "Resize": _resize,
    "Upsample": _resize,
    "LayerNormalization": _layer_norm,
    "GroupNormalization": _group_norm,
    "costcalc.groupnorm": _group_norm_pattern,
    "InstanceNormalization": _instance_norm,
    "Softmax": _softmax,
}


# ----------------------------------------------------------------------------------------------
# Fused patterns, recognised before the walk


def _fuse(nodes: list[_Node], initializers: Mapping[str, Initializer]) -> list[_Node]:
    """Replace ``x · sigmoid(x)`` by one SiLU node, ``x · hardsigmoid(x)`` (torch's 1/6, 1/2) by
    hard-swish, the erf expansion ``x · ½ · (1 + erf(x/√2))`` by GELU, and GroupNorm's
    Reshape → InstanceNormalization → Reshape → Mul → Add by one group norm. A pattern fuses only
    when its inner values are used nowhere else."""
    producer = {o: n for n in nodes for o in n.outputs}
    uses: dict[str, list[_Node]] = {}
    for n in nodes:
        for i in n.inputs:
            uses.setdefault(i, []).append(n)
    consts = _small_constants(nodes, initializers)
    drop: set[int] = set()
    replace: dict[int, _Node] = {}

    def only_use(name: str) -> _Node | None:
        u = uses.get(name, [])
        return u[0] if len(u) == 1 else None

    for n in nodes:
        if n.op in ("Sigmoid", "HardSigmoid") and len(n.inputs) == 1:
            if n.op == "HardSigmoid" and (abs(float(n.attrs.get("alpha", 0.2)) - 1 / 6) > 1e-6
                                          or abs(float(n.attrs.get("beta", 0.5)) - 0.5) > 1e-6):
                continue
            m = only_use(n.outputs[0])
            if m is not None and m.op == "Mul" and set(m.inputs) == {n.inputs[0], n.outputs[0]}:
                kind = "costcalc.silu" if n.op == "Sigmoid" else "costcalc.hardswish"
                drop.add(id(n))
                replace[id(m)] = _Node(kind, m.name, [n.inputs[0]], m.outputs, {}, m.scope, n.op + "+Mul")
        if n.op == "Erf":
            chain = _gelu_chain(n, producer, uses, consts)
            if chain is not None:
                first, last, x = chain
                for c in first:
                    drop.add(id(c))
                replace[id(last)] = _Node("costcalc.gelu", last.name, [x], last.outputs, {}, last.scope,
                                          "Erf GELU")
        if n.op == "InstanceNormalization" and len(n.inputs) == 3:
            gn = _group_norm_chain(n, producer, uses)
            if gn is not None:
                inner, add, inputs = gn
                drop.update(id(c) for c in inner)
                replace[id(add)] = _Node("costcalc.groupnorm", add.name, inputs, add.outputs, {}, n.scope,
                                         "GroupNorm (InstanceNormalization)")
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop]


def _group_norm_chain(norm: _Node, producer: Mapping[str, _Node], uses: Mapping[str, list[_Node]]
                      ) -> tuple[list[_Node], _Node, list[str]] | None:
    """GroupNorm as PyTorch's TorchScript exporter writes it: x → Reshape(x, (N, G, −1)) →
    InstanceNormalization → Reshape(·, Shape(x)) → Mul γ → Add β, each value used once. Returns the
    nodes to drop, the Add (replaced), and the fused node's inputs (x, the target, γ, β, and the
    InstanceNormalization's scale and bias, which the walk checks are 1 and 0)."""

    def one(name: str) -> _Node | None:
        u = uses.get(name, [])
        return u[0] if len(u) == 1 else None

    def constant(name: str) -> bool:
        p = producer.get(name)
        return p is None or p.op == "Constant"

    first = producer.get(norm.inputs[0])
    if first is None or first.op != "Reshape" or one(first.outputs[0]) is not norm:
        return None
    x = first.inputs[0]
    back = one(norm.outputs[0])
    if back is None or back.op != "Reshape" or len(back.inputs) < 2:
        return None
    shape = producer.get(back.inputs[1])
    if shape is None or shape.op != "Shape" or shape.inputs[0] != x or shape.attrs.get("start", 0) \
            or shape.attrs.get("end") is not None:
        return None
    mul = one(back.outputs[0])
    if mul is None or mul.op != "Mul" or back.outputs[0] not in mul.inputs:
        return None
    gamma = mul.inputs[1] if mul.inputs[0] == back.outputs[0] else mul.inputs[0]
    add = one(mul.outputs[0])
    if add is None or add.op != "Add" or mul.outputs[0] not in add.inputs:
        return None
    beta = add.inputs[1] if add.inputs[0] == mul.outputs[0] else add.inputs[0]
    if not (constant(gamma) and constant(beta)):
        return None
    return [first, norm, back, mul], add, [x, first.inputs[1], gamma, beta, norm.inputs[1], norm.inputs[2]]


def _gelu_chain(erf: _Node, producer: Mapping[str, _Node], uses: Mapping[str, list[_Node]],
                consts: Mapping[str, float]) -> tuple[list[_Node], _Node, str] | None:
    """x/√2 → Erf → +1 → ·x → ·½ (or ½x · (1 + erf)): the nodes to drop, the last node, and x."""
    import math

    def one(name: str) -> _Node | None:
        u = uses.get(name, [])
        return u[0] if len(u) == 1 else None

    def other(n: _Node, name: str) -> str:
        return n.inputs[1] if n.inputs[0] == name else n.inputs[0]

    scale = producer.get(erf.inputs[0])
    if scale is None or scale.op not in ("Div", "Mul"):
        return None
    c = consts.get(scale.inputs[1])
    if c is None or not (abs(c - math.sqrt(2)) < 1e-4 if scale.op == "Div" else abs(c - 1 / math.sqrt(2)) < 1e-4):
        return None
    x = scale.inputs[0]
    add = one(erf.outputs[0])
    if add is None or add.op != "Add" or consts.get(other(add, erf.outputs[0])) != 1.0:
        return None
    mul1 = one(add.outputs[0])
    if mul1 is None or mul1.op != "Mul":
        return None
    factor = other(mul1, add.outputs[0])
    nodes = [scale, erf, add]
    if factor == x:  # (1 + erf) · x, then · ½
        mul2 = one(mul1.outputs[0])
        if mul2 is None or mul2.op != "Mul" or consts.get(other(mul2, mul1.outputs[0])) != 0.5:
            return None
        return nodes + [mul1], mul2, x
    half = producer.get(factor)  # (x · ½) · (1 + erf)
    if half is not None and half.op == "Mul" and x in half.inputs and consts.get(other(half, x)) == 0.5 \
            and len(uses.get(half.outputs[0], [])) == 1:
        return nodes + [half], mul1, x
    return None


def _small_constants(nodes: Sequence[_Node], initializers: Mapping[str, Initializer]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, init in initializers.items():
        if init.values is not None and init.values.size == 1:
            out[name] = float(init.values.reshape(-1)[0])
    for n in nodes:
        if n.op == "Constant" and "value" in n.attrs:
            from onnx import numpy_helper

            arr = numpy_helper.to_array(n.attrs["value"]).reshape(-1)
            if arr.size == 1:
                out[n.outputs[0]] = float(arr[0])
    return out


# ----------------------------------------------------------------------------------------------
# Names and scopes


_TS_NAME = re.compile(r"^/(.+)/[^/]+$")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_WEIGHT = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*)\.weight$")


def _scope(node: Any, weight: str | None) -> tuple[str, ...]:
    """The module path a node ran in: from its weight's name (``layer1.0.conv1.weight``), the
    exporter's name scopes (``pkg.torch.onnx.name_scopes``) or a TorchScript-style node name
    (``/layer1/layer1.0/conv1/Conv``); else the top level."""
    if weight:
        m = _WEIGHT.match(weight)
        if m:
            return tuple(m.group(1).split("."))
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            parts = _QUOTED.findall(p.value)
            if len(parts) >= 2:
                path = parts[-2]
                if path and not path.startswith("_empty"):
                    return tuple(path.split("."))
            return ()
    m = _TS_NAME.match(node.name or "")
    if m:
        out: list[str] = []
        prev = ""
        for seg in m.group(1).split("/"):
            rel = seg[len(prev) + 1:] if prev and seg.startswith(prev + ".") else seg
            out += [p for p in rel.split(".") if p]
            prev = seg
        return tuple(out)
    return ()


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def _nodes(og: OnnxGraph) -> list[_Node]:
    out = []
    for i, n in enumerate(og.nodes):
        weight = n.input[1] if n.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose") and len(n.input) > 1 else None
        out.append(_Node(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}",
                         n.name or f"{n.op_type}_{i}", list(n.input), list(n.output), _attrs(n),
                         _scope(n, _weight_name(og, weight))))
    return out


def _weight_name(og: OnnxGraph, name: str | None) -> str | None:
    """The initializer behind ``name`` (following Identity copies)."""
    if not name:
        return None
    if name in og.initializers:
        return name
    for n in og.nodes:
        if n.op_type == "Identity" and list(n.output) == [name] and n.input and n.input[0] in og.initializers:
            return n.input[0]
    return name


# ----------------------------------------------------------------------------------------------
# The front end


def import_onnx(path: str, input_shape: tuple[int, int, int] | None,
                allow_unknown: bool) -> tuple[Graph, SizeVars, str, list[str]]:
    """Read ``path`` and walk its graph. ``input_shape`` (C, H, W) gives the default sizes of
    symbolic dimensions (224 × 224 when not given). Returns the graph, its size variables, a name
    and notes."""
    from costcalc.engine import symbol

    og = read_graph(path)
    inputs = [i for i in og.inputs if i.name not in og.initializers]
    if len(inputs) != 1:
        raise ImportFailure(f"{path}: the model has {len(inputs)} inputs; costcalc imports models on one image")
    inp = inputs[0]
    dims = list(inp.type.tensor_type.shape.dim)
    if len(dims) != 4:
        raise ImportFailure(f"{path}: the input {inp.name!r} has {len(dims)} dimensions; costcalc imports "
                            "N×C×H×W images")
    notes: list[str] = []
    c = dims[1].dim_value
    if not c:
        raise ImportFailure(f"{path}: the input's channel count is not fixed ({dims[1].dim_param or '?'})")
    default_h = input_shape[1] if input_shape else 224
    default_w = input_shape[2] if input_shape else 224
    hv, wv = dims[2].dim_value, dims[3].dim_value
    if hv and wv and input_shape and (input_shape[1], input_shape[2]) != (hv, wv):
        raise ImportUsageError(f"--input-shape {input_shape[1]}×{input_shape[2]}: {path} has a fixed input size "
                               f"{hv}×{wv}")
    # The walk is numeric, at the default size: every shape is exact there (PyTorch's floors, ONNX's
    # integer shape arithmetic); the spec keeps the symbolic dimensions as variables, and costcalc
    # computes its shapes from them by the same rules.
    names: dict[str, str] = {}
    defaults: dict[str, int] = {}
    spec_hw: list[Any] = [hv, wv]
    if not hv or not wv:
        hp, wp = dims[2].dim_param, dims[3].dim_param
        if not hv and not wv and ((hp and hp == wp) or (not hp and not wp and default_h == default_w)):
            defaults["resolution"] = default_h
            spec_hw = [symbol("resolution")] * 2
            names["resolution"] = "resolution"
        else:
            for i, (v, var, d) in enumerate(((hv, "height", default_h), (wv, "width", default_w))):
                if not v:
                    defaults[var] = d
                    names[var] = var
                    spec_hw[i] = symbol(var)
        shown = ", ".join(f"{'H' if i == 2 else 'W'} = {d.dim_param or '?'}" for i, d in enumerate(dims)
                          if i >= 2 and not d.dim_value)
        notes.append(f"symbolic input size ({shown}) kept as {', '.join(defaults)} (default "
                     f"{'×'.join(str(v) for v in defaults.values())}; --set to change, a name keeps it symbolic)")
        hv, wv = hv or default_h, wv or default_w
    if dims[0].dim_param:
        notes.append(f"the batch dimension {dims[0].dim_param!r} is taken as 1")
    sizes = SizeVars(names, defaults)
    nodes = _fuse(_nodes(og), og.initializers)
    walk = _Walk(og, sizes, allow_unknown)
    graph = walk.run(nodes, inp.name, (1, int(c), hv, wv))
    graph.spec_input = [spec_hw[0], spec_hw[1], int(c)]
    if not any(n.op == "BatchNormalization" for n in nodes) and any(n.op == "Conv" for n in nodes):
        notes.append("the graph has no BatchNormalization: if its exporter folded BatchNorm into the convolutions "
                     "(PyTorch's exporters do for inference), costcalc counts what the graph holds — conv biases "
                     "where the graph has them, no BatchNorm γ and β")
    name = og.name or os.path.splitext(os.path.basename(path))[0]
    if not re.match(r"^[\w\- .]+$", name) or name in ("main_graph", "torch_jit", "torch-jit-export"):
        name = os.path.splitext(os.path.basename(path))[0]
    return graph, sizes, name, notes


__all__ = ["import_onnx", "read_graph", "OPS", "OnnxGraph", "Initializer"]
