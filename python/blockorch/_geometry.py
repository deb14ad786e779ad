"""``Coordinate`` and ``Roi``: funlib.geometry's classes when funlib is installed, else these
stand-ins with the funlib methods block-wise code uses (integer, bounded ROIs only)."""

import itertools
import numbers


class Coordinate(tuple):
    """A tuple of integers with element-wise arithmetic (funlib.geometry.Coordinate)."""

    def __new__(cls, *array_like):
        if len(array_like) == 1 and not isinstance(array_like[0], numbers.Integral):
            array_like = array_like[0]
        return super().__new__(cls, (None if v is None else int(v) for v in array_like))

    @property
    def dims(self):
        """Number of dimensions."""
        return len(self)

    def squeeze(self, dim=0):
        return Coordinate(v for i, v in enumerate(self) if i != dim)

    def is_multiple_of(self, other):
        return all(a % b == 0 for a, b in zip(self, _coord(other, len(self))))

    def round_division(self, other):
        return Coordinate(int(round(a / b)) for a, b in zip(self, _coord(other, len(self))))

    def floor_division(self, other):
        return self // other

    def ceil_division(self, other):
        return Coordinate(-(-a // b) for a, b in zip(self, _coord(other, len(self))))

    def _op(self, other, op):
        other = _coord(other, len(self))
        if len(other) != len(self):
            raise ValueError(
                "can not combine coordinates of different dimensions: %r, %r" % (self, other)
            )
        return Coordinate(op(a, b) for a, b in zip(self, other))

    def __neg__(self):
        return Coordinate(-a for a in self)

    def __abs__(self):
        return Coordinate(abs(a) for a in self)

    def __add__(self, other):
        return self._op(other, lambda a, b: a + b)

    __radd__ = __add__

    def __sub__(self, other):
        return self._op(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return self._op(other, lambda a, b: b - a)

    def __mul__(self, other):
        return self._op(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        return self._op(other, lambda a, b: a // b)

    def __truediv__(self, other):
        return self._op(other, lambda a, b: a // b)

    def __mod__(self, other):
        return self._op(other, lambda a, b: a % b)

    def __repr__(self):
        return "(" + ", ".join(str(v) for v in self) + ("," if len(self) == 1 else "") + ")"


def _coord(value, dims):
    if isinstance(value, numbers.Integral):
        return Coordinate((value,) * dims)
    return Coordinate(value)


class Roi:
    """A region ``[offset, offset + shape)`` (funlib.geometry.Roi, bounded and integer)."""

    __slots__ = ("_offset", "_shape")

    def __init__(self, offset, shape):
        self._offset = Coordinate(offset)
        self._shape = Coordinate(shape)
        if len(self._offset) != len(self._shape):
            raise ValueError(
                "offset %r and shape %r differ in dimensions" % (self._offset, self._shape)
            )

    # -- accessors, as properties and as funlib's get_* methods
    @property
    def offset(self):
        return self._offset

    @property
    def shape(self):
        return self._shape

    @property
    def begin(self):
        return self._offset

    @property
    def end(self):
        return self._offset + self._shape

    @property
    def center(self):
        return self._offset + self._shape / 2

    @property
    def dims(self):
        return len(self._shape)

    @property
    def size(self):
        n = 1
        for s in self._shape:
            n *= s
        return n

    def get_offset(self):
        return self.offset

    def get_shape(self):
        return self.shape

    def get_begin(self):
        return self.begin

    def get_end(self):
        return self.end

    def get_center(self):
        return self.center

    def empty(self):
        """True when the ROI holds no cell."""
        return any(s <= 0 for s in self._shape)

    def unbounded(self):
        return False

    # -- derived ROIs
    def set_offset(self, offset):
        return Roi(offset, self._shape)

    def set_shape(self, shape):
        return Roi(self._offset, shape)

    def shift(self, by):
        return Roi(self._offset + _coord(by, self.dims), self._shape)

    def grow(self, amount_neg=0, amount_pos=0):
        """Grows by ``amount_neg`` before and ``amount_pos`` after (per axis or scalar)."""
        neg = _coord(0 if amount_neg is None else amount_neg, self.dims)
        pos = _coord(0 if amount_pos is None else amount_pos, self.dims)
        return Roi(self._offset - neg, self._shape + neg + pos)

    def intersect(self, other):
        begin = Coordinate(max(a, b) for a, b in zip(self.begin, other.begin))
        end = Coordinate(min(a, b) for a, b in zip(self.end, other.end))
        shape = Coordinate(max(0, e - b) for b, e in zip(begin, end))
        return Roi(begin, shape)

    def intersects(self, other):
        if self.empty() or other.empty():
            return False
        return all(
            a < d and c < b for a, b, c, d in zip(self.begin, self.end, other.begin, other.end)
        )

    def union(self, other):
        begin = Coordinate(min(a, b) for a, b in zip(self.begin, other.begin))
        end = Coordinate(max(a, b) for a, b in zip(self.end, other.end))
        return Roi(begin, end - begin)

    def contains(self, other):
        """True for a ROI inside this one, or a coordinate in it."""
        if isinstance(other, Roi) or hasattr(other, "get_begin"):
            if other.empty():
                return self.contains(other.begin)
            return all(
                a <= c and d <= b
                for a, b, c, d in zip(self.begin, self.end, other.begin, other.end)
            )
        return all(b <= c < e for b, e, c in zip(self.begin, self.end, Coordinate(other)))

    def snap_to_grid(self, voxel_size, mode="grow"):
        vs = _coord(voxel_size, self.dims)
        if mode == "grow":
            begin, end = self.begin // vs * vs, self.end.ceil_division(vs) * vs
        elif mode == "shrink":
            begin, end = self.begin.ceil_division(vs) * vs, self.end // vs * vs
        elif mode == "closest":
            begin, end = self.begin.round_division(vs) * vs, self.end.round_division(vs) * vs
        else:
            raise ValueError("unknown mode %r for snap_to_grid" % (mode,))
        return Roi(begin, end - begin)

    def copy(self):
        return Roi(self._offset, self._shape)

    def to_slices(self):
        """``(slice(begin, end), ...)``, for indexing arrays in the ROI's own units."""
        return tuple(slice(b, e) for b, e in zip(self.begin, self.end))

    def __iter__(self):
        """Every coordinate in the ROI (row-major)."""
        return (
            Coordinate(c)
            for c in itertools.product(*(range(b, e) for b, e in zip(self.begin, self.end)))
        )

    # -- arithmetic, as funlib: + and - shift, * and / scale both offset and shape
    def __add__(self, other):
        return self.shift(other)

    def __sub__(self, other):
        return self.shift(-_coord(other, self.dims))

    def __mul__(self, other):
        return Roi(self._offset * other, self._shape * other)

    def __truediv__(self, other):
        return Roi(self._offset / other, self._shape / other)

    def __floordiv__(self, other):
        return Roi(self._offset // other, self._shape // other)

    def __eq__(self, other):
        if hasattr(other, "get_offset") and hasattr(other, "get_shape"):
            return (tuple(self._offset), tuple(self._shape)) == (
                tuple(other.get_offset()),
                tuple(other.get_shape()),
            )
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash((tuple(self._offset), tuple(self._shape)))

    def __reduce__(self):
        return (Roi, (tuple(self._offset), tuple(self._shape)))

    def __repr__(self):
        return "[%s] (%s)" % (
            ", ".join("%d:%d" % (b, e) for b, e in zip(self.begin, self.end)),
            ", ".join(str(v) for v in self._shape),
        )


try:  # funlib.geometry's classes when installed, so user code gets the types it expects
    from funlib.geometry import Coordinate, Roi  # noqa: F811,F401
except ImportError:  # pragma: no cover - depends on the environment
    pass


def roi_to_dict(roi, what):
    """``{"offset": [...], "shape": [...]}`` of a funlib, daisy or blockorch ROI; ``what`` names
    the argument in the error."""
    try:
        offset = roi.get_offset() if hasattr(roi, "get_offset") else roi.offset
        shape = roi.get_shape() if hasattr(roi, "get_shape") else roi.shape
        offset = [int(v) for v in offset]
        shape = [int(v) for v in shape]
    except (AttributeError, TypeError, ValueError) as e:
        raise TypeError(
            "%s must be a Roi with integer offset and shape (funlib.geometry.Roi or blockorch.Roi), "
            "got %r (%s)" % (what, roi, e)
        ) from None
    return {"offset": offset, "shape": shape}
