"""A small actor runtime on asyncio.

Theory of operation
-------------------
An actor is an object with `receive(message)` and optional `on_start`/`on_stop` hooks. `spawn`
starts it as one asyncio task inside the caller's `TaskGroup` and returns an `ActorRef` once
`on_start` has finished (trio's `start()` handshake), so a ref never points at a half-started
actor. The task pulls envelopes from a bounded mailbox and handles them one at a time, so an
actor's state needs no locks.

Failure semantics (after pykka):

* an exception while handling an `ask` goes back to the asker; the actor carries on;
* an exception while handling a `tell` crashes the actor: it stops, fails every pending ask
  with `ActorStoppedError`, and the `on_crash` callback (its supervisor) is told;
* `stop()` lets the actor finish what is already in its mailbox, then stops it;
* a ref to a stopped actor refuses new messages with `ActorStoppedError`;
* cancellation always propagates: we catch `Exception`, never `BaseException`.

The actor task itself never raises into the TaskGroup (which would cancel its siblings): a
crash is reported to the supervisor instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from actors.errors import ActorStoppedError, MailboxFullError

M = TypeVar("M")

_STOP = object()


class Actor(Generic[M]):
    """Base class: override `receive`, and `on_start` / `on_stop` if needed."""

    mailbox_size: int = 1024
    ref: ActorRef[M]

    async def on_start(self) -> None:
        """Runs before the first message; `spawn` returns once it has finished."""

    async def receive(self, message: M) -> Any:
        raise NotImplementedError

    async def on_stop(self) -> None:
        """Runs once, after the last message, whether the actor stopped or crashed."""


CrashHandler = Callable[["ActorRef[Any]", BaseException], None]
Envelope = tuple[Any, "asyncio.Future[Any] | None"]


class Mailbox:
    """A bounded FIFO with one consumer, much lighter than `asyncio.Queue`.

    An idle actor's mailbox holds no deque and no waiter list (they exist only while there is
    something in them), so ten thousand idle actors cost a few hundred bytes each here instead
    of the three deques and the Event an `asyncio.Queue` keeps (about 3 KB, measured).
    """

    __slots__ = ("_getter", "_items", "_putters", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Envelope] | None = None
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self) >= self.maxsize

    def put_nowait(self, item: Envelope) -> None:
        if self.full():
            raise asyncio.QueueFull
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def put(self, item: Envelope) -> None:
        while self.full():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._putters is None:
                self._putters = deque()
            self._putters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if self._putters is not None and waiter in self._putters:
                    self._putters.remove(waiter)
                self._wake_putter()  # pass on a wake-up this waiter may have taken
                raise
        self.put_nowait(item)

    def get_nowait(self) -> Envelope:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None  # give the memory back while idle
        self._wake_putter()
        return item

    async def get(self) -> Envelope:
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self.get_nowait()

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            waiter = putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if not putters:
            self._putters = None


class ActorRef(Generic[M]):
    """The only handle other code holds on an actor."""

    __slots__ = ("_actor", "_crash", "_mailbox", "_stopped", "_task", "name")

    def __init__(self, actor: Actor[M], name: str, on_crash: CrashHandler | None) -> None:
        self.name = name
        self._actor = actor
        self._mailbox = Mailbox(actor.mailbox_size)
        self._stopped = False
        self._crash = on_crash
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "alive"
        return f"<ActorRef {self.name} {state}>"

    @property
    def alive(self) -> bool:
        return not self._stopped

    def tell(self, message: M) -> None:
        """Deliver `message` without waiting. Raises if stopped or if the mailbox is full."""
        if self._stopped:
            raise ActorStoppedError(f"actor {self.name} has stopped; {message!r} refused")
        try:
            self._mailbox.put_nowait((message, None))
        except asyncio.QueueFull:
            raise MailboxFullError(
                f"mailbox of actor {self.name} is full ({self._mailbox.maxsize} messages)"
            ) from None

    async def send(self, message: M) -> None:
        """Deliver `message`, waiting for room in the mailbox (backpressure)."""
        if self._stopped:
            raise ActorStoppedError(f"actor {self.name} has stopped; {message!r} refused")
        await self._mailbox.put((message, None))

    async def ask(self, message: M, *, timeout: float | None = 30.0) -> Any:
        """Deliver `message` and wait for `receive`'s result (or its exception)."""
        if self._stopped:
            raise ActorStoppedError(f"actor {self.name} has stopped; {message!r} refused")
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._mailbox.put((message, reply))
        try:
            return await asyncio.wait_for(asyncio.shield(reply), timeout)
        except TimeoutError:
            reply.cancel()
            raise

    def stop(self) -> None:
        """Ask the actor to stop after the messages already queued. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        # With a full mailbox the loop notices `_stopped` once it has drained the queue.
        with contextlib.suppress(asyncio.QueueFull):
            self._mailbox.put_nowait((_STOP, None))

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the actor's task has ended (right away if it has)."""
        if self._task is None or self._task.done():
            callback()
        else:
            self._task.add_done_callback(lambda _task: callback())

    async def join(self) -> None:
        """Wait until the actor's task has ended."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self, started: asyncio.Future[None]) -> None:
        actor = self._actor
        try:
            await actor.on_start()
        except Exception as exc:
            self._stopped = True
            if not started.done():
                started.set_exception(exc)
            return
        started.set_result(None)
        crash: BaseException | None = None
        try:
            while True:
                if self._stopped and self._mailbox.empty():
                    break
                message, reply = await self._mailbox.get()
                if message is _STOP:
                    break
                if reply is not None and reply.done():
                    continue  # the asker gave up (timeout); don't do the work
                try:
                    result = await actor.receive(message)
                except Exception as exc:
                    if reply is not None:
                        reply.set_exception(exc)
                        continue
                    crash = exc
                    break
                if reply is not None:
                    reply.set_result(result)
        finally:
            self._stopped = True
            self._fail_pending()
            with contextlib.suppress(Exception):
                await actor.on_stop()
        if crash is not None and self._crash is not None:
            self._crash(self, crash)

    def _fail_pending(self) -> None:
        while not self._mailbox.empty():
            message, reply = self._mailbox.get_nowait()
            if reply is not None and not reply.done():
                reply.set_exception(
                    ActorStoppedError(f"actor {self.name} stopped before handling {message!r}")
                )


async def spawn(
    tg: asyncio.TaskGroup,
    actor: Actor[M],
    *,
    name: str,
    on_crash: CrashHandler | None = None,
) -> ActorRef[M]:
    """Start `actor` in `tg`; return its ref once `on_start` has completed.

    Raises whatever `on_start` raised (the actor is then not running).
    """
    ref: ActorRef[M] = ActorRef(actor, name, on_crash)
    actor.ref = ref
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ref._task = tg.create_task(ref._run(started), name=f"actor:{name}")
    await started
    return ref
