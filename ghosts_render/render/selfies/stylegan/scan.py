"""Bound the work a network pickle can cause, from its opcodes alone, before anything is built.

A pickle's memo lets one object be referenced any number of times: a list of two references to
a list of two references to ... takes 40 short opcodes to write, yet anything that walks it as a
tree (hashing a tuple, comparing or copying nested settings) visits 2**40 nodes. This module runs
the opcode stream symbolically (no object is created, no global is looked up), records which
object holds which, and measures every object's size as a tree, each shared part counted once
per reference. A file in which any object is larger than ``MAX_TREE_NODES`` is refused, in time
linear in the file's length.
"""

from __future__ import annotations

import io
import pickletools

from ghosts_render.errors import ModelLoadError

# The test fixtures' snapshots (G, D, G_ema, augment pipe) expand to at most 34,000 tree nodes;
# full-size official networks have the same layers with more channels (channels live inside
# tensors, not in the pickle's object structure), so they stay far below this.
MAX_TREE_NODES = 2_000_000
_MARK = -1
# Opcodes that add to the object below them instead of making a new one.
_IN_PLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


def check_pickle_size(raw: bytes) -> None:
    """Refuse a pickle whose objects, expanded as trees, exceed ``MAX_TREE_NODES`` in all.

    Raises ModelLoadError (no path; the caller adds it) for an over-large or malformed stream,
    EOFError for one that ends too early.
    """
    if _count_tree_nodes(_object_graph(raw)) > MAX_TREE_NODES:
        raise ModelLoadError(
            f"its objects refer to each other so often that reading it would take over "
            f"{MAX_TREE_NODES:,} steps for one object (a booby-trapped or damaged file); "
            "refusing to load it"
        )


def _object_graph(raw: bytes) -> list[list[int]]:
    """Run the opcodes on a stack of object numbers; return each object's children."""
    children: list[list[int]] = []
    stack: list[int] = []
    memo: dict[int, int] = {}
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(raw)):
            name = op.name
            if name == "MARK":
                stack.append(_MARK)
            elif name in _MEMO_PUT or name == "MEMOIZE":
                memo[len(memo) if name == "MEMOIZE" else int(arg or 0)] = _top(stack)
            elif name in _MEMO_GET:
                stack.append(memo[int(arg or 0)])
            elif name == "DUP":
                stack.append(_top(stack))
            elif name == "STOP":
                break
            else:
                popped = _pop_args(stack, op)
                if name in _IN_PLACE:
                    children[popped[0]].extend(popped[1:])
                    stack.append(popped[0])
                elif op.stack_after:
                    children.append(popped)
                    stack.append(len(children) - 1)
    except (ValueError, KeyError, IndexError, EOFError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if "remain" in detail or "exhausted" in detail or isinstance(e, EOFError):
            raise EOFError(detail) from None
        raise ModelLoadError(f"not a readable network pickle ({detail})") from None
    return children


def _top(stack: list[int]) -> int:
    if not stack or stack[-1] == _MARK:
        raise IndexError("an opcode needs an object, but the stack is empty")
    return stack[-1]


def _pop_args(stack: list[int], op: pickletools.OpcodeInfo) -> list[int]:
    """Pop what ``op`` consumes (down to and including a mark, where it takes one)."""
    before = [s.name for s in op.stack_before]
    popped: list[int] = []
    if "mark" in before:
        while stack and stack[-1] != _MARK:
            popped.append(stack.pop())
        if not stack:
            raise IndexError(f"{op.name} without a mark")
        stack.pop()
        below = before.index("mark")
    else:
        below = len(before)
    for _ in range(below):
        popped.append(_top(stack))
        stack.pop()
    popped.reverse()
    return popped


def _count_tree_nodes(children: list[list[int]]) -> int:
    """Return the size as trees of all objects no other object holds (a cycle's way back: 1).

    Stops counting once the total passes ``MAX_TREE_NODES``.
    """
    size = [0] * len(children)  # 0 = not yet measured
    on_path = [False] * len(children)
    held = [False] * len(children)
    for kids in children:
        for kid in kids:
            held[kid] = True
    total = 0
    for root in range(len(children)):
        if size[root]:
            continue
        path = [(root, 0)]
        on_path[root] = True
        while path:
            node, i = path[-1]
            kids = children[node]
            if i < len(kids):
                path[-1] = (node, i + 1)
                kid = kids[i]
                if not size[kid] and not on_path[kid]:
                    on_path[kid] = True
                    path.append((kid, 0))
                continue
            path.pop()
            on_path[node] = False
            size[node] = 1 + sum(size[k] or 1 for k in kids)
            if size[node] > MAX_TREE_NODES:
                return size[node]
        total += 0 if held[root] else size[root]
        if total > MAX_TREE_NODES:
            break
    return total
