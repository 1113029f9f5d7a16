"""check on every module of Debian's kernel: they all load on that kernel, so no rule may
fire except the one that says they are not livepatch modules. This proves the relocation-type
tables and the x86-64 byte checks against real kbuild output."""

import collections

import pytest

from klp_convert.check import check_module
from support.debian import kernel_image_modules

pytestmark = [pytest.mark.debian, pytest.mark.slow]


def test_debian_modules_break_no_rule_but_livepatch():
    _abi, root = kernel_image_modules()
    modules = sorted(root.rglob("*.ko"))
    assert len(modules) > 3000
    rules = collections.Counter()
    examples = {}
    for path in modules:
        for finding in check_module(path):
            rules[finding.rule] += 1
            examples.setdefault(finding.rule, f"{finding.module}: {finding.message}")
    assert rules["modinfo-livepatch"] == len(modules)
    del rules["modinfo-livepatch"]
    assert not rules, [examples[r] for r in rules]
