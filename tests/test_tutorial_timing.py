"""Tutorial 01's timing helpers: alternating medians and a page-fault count."""

import builtins
import mmap
import time

import pytest

from minimsam import tutorial


def test_interleaved_medians_times_every_function_in_every_round():
    order = []
    funs = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    medians = tutorial.interleaved_medians(funs, rounds=3, calls=2)
    assert order == ["a", "a", "b", "b"] * 3  # rounds alternate, calls within a round do not
    assert set(medians) == {"a", "b"} and all(t >= 0 for t in medians.values())


def test_interleaved_medians_orders_a_slow_function_after_a_fast_one():
    medians = tutorial.interleaved_medians(
        {"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, rounds=5, calls=1
    )
    assert medians["slow"] >= 0.002 > medians["fast"]  # sleep waits at least its time


def test_page_faults_sees_fresh_memory():
    pytest.importorskip("resource")  # Linux, macOS

    def touch_fresh_pages():
        # 64 MB straight from the operating system (not from an allocator's pool, which another
        # library loaded in this process may keep), one byte written per page
        memory = mmap.mmap(-1, 64 * 2**20)
        memory[:: mmap.PAGESIZE] = b"\1" * (64 * 2**20 // mmap.PAGESIZE)
        memory.close()

    # at least 32 faults even with 2 MB (huge) pages; a call that allocates nothing takes ~0
    assert tutorial.page_faults(touch_fresh_pages, calls=2) > 30
    assert tutorial.page_faults(lambda: None, calls=2) < 5


def test_page_faults_is_none_without_the_resource_module(monkeypatch):
    real_import = builtins.__import__

    def no_resource(name, *args, **kwargs):
        if name == "resource":
            raise ImportError("no resource module here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_resource)
    assert tutorial.page_faults(lambda: None) is None
