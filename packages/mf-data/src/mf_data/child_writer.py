"""A dataset writer run in a forked child process, so that writing overlaps tokenizing in the parent.

The child inherits what the parent has imported (MindSpore is not imported twice) and receives chunks, in
order, through a pipe that a thread of the parent feeds from a bounded queue. The child renames its files
into place only after the parent's last chunk; when the parent fails, is interrupted or dies (the pipe
closes), the child stops and leaves nothing under the final names.
"""

import multiprocessing
import queue
import signal
import threading
import traceback

from mf_config.errors import MFError
from mf_data.errors import DataError

_POLL = 0.2  # seconds between checks that the child is still there
_STOP = object()  # tells the feeder thread to stop


def available():
    """True where processes can be forked (Linux, macOS): elsewhere write in the calling process."""
    return "fork" in multiprocessing.get_all_start_methods()


class ChildWriter:
    """``make_writer(*args)`` (a context manager with ``add(*chunk)``) run in a child process; used like it.
    At most ``max_chunks`` chunks wait for the child; beyond that :meth:`add` waits."""

    def __init__(self, make_writer, *args, max_chunks=16):
        self.make_writer, self.args, self.max_chunks = make_writer, args, max_chunks

    def __enter__(self):
        ctx = multiprocessing.get_context("fork")
        chunks_in, self._chunks = ctx.Pipe(duplex=False)
        self._reports, reports_out = ctx.Pipe(duplex=False)
        self._abort = ctx.Event()
        self._proc = ctx.Process(target=_serve, name="mf-data writer", daemon=True, args=(
            self.make_writer, self.args, chunks_in, reports_out, self._abort, (self._chunks, self._reports)))
        self._proc.start()
        chunks_in.close()
        reports_out.close()
        self._pending = queue.Queue(self.max_chunks)
        self._feeder = threading.Thread(target=self._feed, name="mf-data writer feeder", daemon=True)
        self._feeder.start()
        return self

    def add(self, *chunk):
        """Queue a chunk for the child; raises the child's error."""
        self._put(chunk)

    def _put(self, item):
        while True:
            self._check()
            try:
                return self._pending.put(item, timeout=_POLL)
            except queue.Full:
                continue

    def _feed(self):
        """Thread: sends queued chunks to the child (the parent goes on tokenizing meanwhile)."""
        try:
            while (item := self._pending.get()) is not _STOP and not self._abort.is_set():
                self._chunks.send(item)
                if item is None:
                    break
        except OSError:
            pass  # the child is gone; _check says why
        finally:
            self._chunks.close()

    def _check(self, wait=0.0):
        """Raise what the child reported, or that it died; returns its final report (``"done"``) if any."""
        if self._reports.poll(wait):
            try:
                kind, text = self._reports.recv()
            except EOFError:  # it died without a word
                self._proc.join(5)
                raise self._died() from None
            if kind == "user":
                raise DataError(text)
            if kind == "bug":
                raise RuntimeError(f"the writer process failed:\n{text}")
            return kind
        if not self._proc.is_alive():
            raise self._died()
        return None

    def _died(self):
        code = self._proc.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return DataError(f"the writer process ended unexpectedly ({how})")

    def __exit__(self, exc_type, exc, tb):
        done = False
        try:
            if exc_type is None:
                self._put(None)
                while not done:
                    done = self._check(_POLL) == "done"
        finally:
            if not done:
                self._abort.set()
                try:
                    self._pending.put_nowait(_STOP)  # wakes the feeder if it waits for a chunk
                except queue.Full:
                    pass  # it is sending one, and sees the abort after it
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join()
            self._feeder.join()
            self._reports.close()
        return False


class _Aborted(Exception):
    pass


def _serve(make_writer, args, chunks, reports, abort, parent_ends):
    """The child: write chunks until ``None``, then commit and report ``done``; stop on an abort or when the
    parent's end of the pipe closes."""
    for end in parent_ends:  # so that the pipe reads end-of-file when the parent is gone
        end.close()
    try:
        with make_writer(*args) as writer:
            while (chunk := chunks.recv()) is not None:
                if abort.is_set():
                    raise _Aborted
                writer.add(*chunk)
        reports.send(("done", None))
    except (_Aborted, EOFError, KeyboardInterrupt):
        pass
    except MFError as e:
        reports.send(("user", str(e)))
    except BaseException:
        reports.send(("bug", traceback.format_exc()))
