"""The message tree under a conversation: every message with its parent, the path the chat shows, and
moving along it. Nothing here knows about roles or turns; ``pagellm.messages.Conversation`` builds on it.
"""

from __future__ import annotations

from .errors import InputError
from .message import Message


class _Path(list):
    """The visible path as a list; ``append`` and ``pop`` act on the tree."""

    def __init__(self, tree: "MessageTree", items):
        super().__init__(items)
        self._tree = tree

    def append(self, message: Message) -> None:
        self._tree._attach(message, self._tree.current)
        super().append(message)

    def pop(self, index: int = -1) -> Message:
        if index not in (-1, len(self) - 1):
            raise InputError("Only the last message of the path can be popped; use Conversation.delete(id).")
        message = self[-1]
        self._tree.delete(message.id)
        return super().pop()

    def _refuse(self, *args, **kwargs):
        raise InputError("Change a conversation through its methods (add_user, edit, delete, ...), not its path.")

    insert = remove = clear = extend = __setitem__ = __delitem__ = __iadd__ = sort = reverse = _refuse


class MessageTree:
    """Every message (parents before children), the choice made at each fork, and the visible path: from
    the first message to ``current``."""

    def __init__(self, messages: list[Message] | None = None):
        self._nodes: dict[str, Message] = {}   # every message, parents before children
        self._children: dict[str | None, list[str]] = {None: []}
        self._chosen: dict[str | None, str] = {}  # parent -> the child the path goes through (itself: it ends there)
        self.current: str | None = None           # the path's last message
        for message in messages or []:
            self._attach(message, self.current)

    # ------------------------------------------------------------------------------------------
    # Reading the tree.
    @property
    def nodes(self) -> list[Message]:
        """Every message of every branch, parents before children."""
        return list(self._nodes.values())

    @property
    def messages(self) -> list[Message]:
        """The visible path, first message first."""
        return _Path(self, (self._nodes[i] for i in self.path_ids()))

    @property
    def last(self) -> Message | None:
        return self._nodes.get(self.current) if self.current else None

    def path_ids(self) -> list[str]:
        ids, node = [], self.current
        while node is not None:
            ids.append(node)
            node = self._nodes[node].parent
        return ids[::-1]

    def get(self, message_id: str) -> Message:
        try:
            return self._nodes[message_id]
        except (KeyError, TypeError):
            raise InputError(f"This chat has no message {message_id!r}: it may have been deleted.") from None

    def children(self, message_id: str | None) -> list[Message]:
        return [self._nodes[i] for i in self._children.get(message_id, [])]

    def siblings(self, message_id: str) -> list[Message]:
        """The message and its alternatives (edits, other replies), oldest first."""
        return self.children(self.get(message_id).parent)

    def position(self, message_id: str) -> tuple[int, int]:
        """(1-based place among its siblings, how many there are): what a ``‹ 2/3 ›`` navigator shows."""
        ids = self._children[self.get(message_id).parent]
        return ids.index(message_id) + 1, len(ids)

    # ------------------------------------------------------------------------------------------
    # Moving along the tree: nothing is removed.
    def _attach(self, message: Message, parent: str | None) -> Message:
        if message.id in self._nodes:
            raise InputError(f"Message id {message.id!r} is used twice in this chat.")
        if parent is not None and parent not in self._nodes:
            raise InputError(f"Message {message.id!r} answers {parent!r}, which is not in this chat.")
        message.parent = parent
        self._nodes[message.id] = message
        self._children.setdefault(parent, []).append(message.id)
        self._children.setdefault(message.id, [])
        self._go(message.id)
        return message

    def _go(self, message_id: str | None) -> None:
        """End the path at ``message_id``, and remember the choice at every fork above it, and that the
        path ended there when it has answers below (a question being answered again)."""
        self.current = message_id
        if self._children.get(message_id):
            self._chosen[message_id] = message_id
        node = message_id
        while node is not None:
            parent = self._nodes[node].parent
            self._chosen[parent] = node
            node = parent

    def _descend(self, message_id: str) -> str:
        """The end of the branch below ``message_id``, following the choices made there before."""
        node = message_id
        while self._children.get(node):
            chosen = self._chosen.get(node)
            if chosen == node:
                break
            node = chosen if chosen in self._children[node] else self._children[node][-1]
        return node

    def show(self, message_id: str) -> Message:
        """Make the visible path go through ``message_id`` (down to the end of its branch)."""
        self.get(message_id)
        self._go(self._descend(message_id))
        return self._nodes[message_id]

    def switch(self, message_id: str, step: int) -> Message:
        """Show the sibling ``step`` places from ``message_id`` (-1: the previous, 1: the next)."""
        ids = self._children[self.get(message_id).parent]
        index = ids.index(message_id) + step
        if not 0 <= index < len(ids):
            raise InputError(f"There is no branch {index + 1} here: this message has {len(ids)}.")
        return self.show(ids[index])

    def branch_at(self, message_id: str | None) -> None:
        """End the visible path at ``message_id`` (None: before the first message); the next message
        added starts a new branch there."""
        if message_id is not None:
            self.get(message_id)
        self._go(message_id)

    def delete(self, message_id: str) -> list[Message]:
        """Remove a message and everything after it (its branch); the path moves to a neighbouring
        sibling, or ends at the parent. Returns what was removed."""
        message = self.get(message_id)
        removed, stack = [], [message_id]
        while stack:
            node = stack.pop()
            removed.append(self._nodes.pop(node))
            stack.extend(self._children.pop(node, []))
            self._chosen.pop(node, None)
        siblings = self._children[message.parent]
        index = siblings.index(message_id)
        siblings.remove(message_id)
        if self.current is not None and self.current not in self._nodes:
            if siblings:
                self._go(self._descend(siblings[max(0, index - 1)]))
            else:
                self._chosen.pop(message.parent, None)
                self._go(message.parent)
        elif self._chosen.get(message.parent) == message_id:
            self._chosen.pop(message.parent)
        return removed
