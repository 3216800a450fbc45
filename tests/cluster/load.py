"""Continuous load for the fault tests: threads on keep-alive connections,
counting failures twice: raw (any failed attempt) and as a client that
retries an idempotent request once, on a new connection, when a keep-alive
connection closes before any byte of the response (as browsers do).
Anything else (an error status, a reset mid-response, a timeout) is a
failure in both counts."""

import http.client
import random
import threading
import time

RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class Load:
    def __init__(self, port, paths, threads=4, fresh=None, timeout=15, max_seconds=120):
        self.port, self.paths, self.n = port, list(paths), threads
        self.fresh = fresh  # a function i -> a path never asked before (a miss), every 8th request
        self.timeout, self.max_seconds = timeout, max_seconds
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.requests = self.ok = self.raw_failures = self.failures = self.retried = 0
        self.errors = []
        self.counter = 0

    def start(self):
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.n)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop"
        return self

    def _next_path(self, rng):
        with self.lock:
            self.counter += 1
            i = self.counter
        if self.fresh and i % 8 == 0:
            return self.fresh(i)
        return rng.choice(self.paths)

    def _attempt(self, conn, path):
        """(status or None, retryable) on conn; raises nothing."""
        try:
            conn.request("GET", path)
            r = conn.getresponse()
        except RETRYABLE as e:
            return None, True, repr(e)
        except Exception as e:  # timeout, bad status line: bytes of a response, or none in time
            return None, False, repr(e)
        try:
            r.read()
        except Exception as e:
            return None, False, "mid-body: " + repr(e)
        return r.status, False, ""

    def _run(self, i):
        rng = random.Random(i)
        conn = None
        end = time.monotonic() + self.max_seconds
        while not self.stop_flag.is_set() and time.monotonic() < end:
            path = self._next_path(rng)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            status, retryable, err = self._attempt(conn, path)
            raw_fail = status != 200
            final = status
            if status is None:
                conn.close()
                conn = None
            if retryable:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                final, _, err2 = self._attempt(conn, path)
                if final is None:
                    conn.close()
                    conn = None
                    err = err + " then " + err2
            with self.lock:
                self.requests += 1
                self.raw_failures += raw_fail
                self.retried += retryable
                if final == 200:
                    self.ok += 1
                else:
                    self.failures += 1
                    if len(self.errors) < 20:
                        self.errors.append((path, final, err))
        if conn is not None:
            conn.close()

    def summary(self):
        return (f"{self.requests} requests: {self.failures} failed with a retry on early close, "
                f"{self.raw_failures} failed without it ({self.retried} retried)")
