"""One CPU budget: the affinity mask decides, and nothing sets torch's thread count for good."""

import os

import torch

from nonesuch.cpus import torch_threads, usable_cpu_count


def test_the_budget_is_the_affinity_mask_not_the_machine():
    assert usable_cpu_count() == len(os.sched_getaffinity(0))


def test_torch_threads_holds_only_inside_the_block():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_a_producer_leaves_torch_threads_as_it_found_them(tmp_path, monkeypatch):
    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance.keys import init_keys

    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path))
    init_keys()                                 # the watermark needs this install's key
    before = torch.get_num_threads()
    with Producer("smileys32", threads=4, sign=False, register=False, size=64) as producer:
        assert torch.get_num_threads() == before and producer.generator_threads == 2
        producer.produce([0, 1])
        assert torch.get_num_threads() == before
