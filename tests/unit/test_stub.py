"""inject/stub.py: the machine code of the call stubs, checked as bytes and as objdump decodes them."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from gdb_memleak import errors
from gdb_memleak.inject import landing, stub

ADDRESS, RESUME, ERRNO = 0x55D0_0000_1F40, 0x7F3A_1234_5678, 0x7F3A_0000_A0A0
SIX = (1, 2, 3, 4, 5, 6)
# The largest epilogue a session writes: the allocators put back (two calls), gc resumed (3.6-3.9: gc's
# enable() and dropping the None it returns), the fork guard taken out and the gc module gdb made let go
# of (inject/gc_pause.py), then PyGILState_Release.
EPILOGUE = (stub.Call(0x7F3A_0000_1000, (1, 0x55D0_0000_2200)), stub.Call(0x7F3A_0000_1000, (2, 0x55D0_0000_2228)),
            stub.Call(0x7F3A_0000_1800, (0x7F3A_1000_2000, 0)), stub.Call(0x7F3A_0000_1A00, (0x7F3A_0000_3000,)),
            stub.Call(0x7F3A_0000_1900, (0x7F3A_1000_0000, 0x7F3A_1000_1000)),
            stub.Call(0x7F3A_0000_1A00, (0x7F3A_1000_4000,)), stub.Call(0x7F3A_0000_2000, (stub.PARK_VALUE,)))
CALLS = [stub.Call(0x7F3A_0000_3000 + 16 * i, SIX) for i in range(stub.RESULT_SLOTS)]
COMMON = dict(resume=RESUME, tgid=4242, tid=4243, signal=landing.SIGURG, keep_first=True, epilogue=EPILOGUE)


def first(address: int = ADDRESS, calls=CALLS, **options) -> stub.Block:
    return stub.first_block(address, calls, errno_location=ERRNO, **dict(COMMON, **options))


def following(address: int = ADDRESS, calls=CALLS, **options) -> stub.Block:
    return stub.next_block(address, calls, **dict(COMMON, **options))


def test_the_largest_blocks_fit_their_region_and_the_padding_budget():
    wide = [stub.Call(0x7F3A_0000_3000 + 16 * i, tuple(0x7F3A_0000_7000 + k for k in range(6))) for i in range(stub.RESULT_SLOTS)]
    for calls in (CALLS, wide):
        for block in (first(calls=calls), following(calls=calls),
                      first(calls=calls, interrupted=RESUME + 2), following(calls=calls, interrupted=RESUME + 2)):
            assert len(block.code) <= stub.MAX_BLOCK, len(block.code)
    assert len(stub.release_block(ADDRESS, resume=RESUME, rax=-4, epilogue=EPILOGUE)) <= stub.MAX_BLOCK
    assert len(stub.release_block(ADDRESS, resume=RESUME, epilogue=EPILOGUE, interrupted=RESUME + 2)) <= stub.MAX_BLOCK
    # The routing area (allocator.py): a malloc and a calloc hook 96 bytes apart, then three PyMemAllocatorEx.
    hook = stub.allocator_hook(ADDRESS, payload_thread=0x7F3A_0000_4000, counter=0x55D0_0000_2300,
                               routed=(0, 0x7F3A_0000_5000), own=(0x55D0_0000_6000, 0x7F3A_0000_6000))
    assert len(hook) <= 96 and 2 * 96 + 3 * 40 <= landing.ROUTING_AREA
    assert landing.NEEDED == 2 * stub.MAX_BLOCK + landing.ROUTING_AREA + stub.THREAD_AREA


def test_blocks_are_deterministic_and_position_independent():
    assert first().code == first().code and following().code == following().code
    # Only rip-relative and absolute addresses of others: the same bytes anywhere.
    moved = first(ADDRESS + 0x1000)
    assert moved.code == first().code and moved.entry - moved.stop == first().entry - first().stop
    assert following(ADDRESS + 0x400).code == following().code
    # What they call and where they go back is in them, as 64-bit immediates.
    code = first().code
    for value in (RESUME, ERRNO, CALLS[0].function, CALLS[-1].function, EPILOGUE[-1].function):
        assert struct.pack("<Q", value) in code, hex(value)
    assert code.endswith(b"\xff\x25\x00\x00\x00\x00" + struct.pack("<Q", RESUME))  # jmp [rip+0]: resume


def test_the_entry_and_the_stop():
    block = first()
    assert block.code[:2] == b"\x66\x90" and block.entry == ADDRESS + 2  # a restarted syscall lands on the nop
    assert block.code[block.stop - ADDRESS - 2:block.stop - ADDRESS] == b"\x0f\x05"  # stopped just after the tgkill
    block = following()
    assert block.entry == ADDRESS
    assert block.code[block.stop - ADDRESS - 2:block.stop - ADDRESS] == b"\x0f\x05"


def test_frame_offsets():
    offsets = [stub.pushed_offset(name) for name in stub.PUSHED + ("rflags",)]
    assert sorted(offsets) == list(range(0, 8 * 16, 8))
    assert stub.pushed_offset("r15") == 0 and stub.pushed_offset("rflags") == 8 * len(stub.PUSHED)
    results = [stub.result_offset(i) for i in range(stub.RESULT_SLOTS)]
    assert len(set(results)) == stub.RESULT_SLOTS and max(results) < stub.PARK_SLOT
    assert min(results) >= -stub.FRAME_BELOW_RBX


def test_what_a_block_cannot_hold_is_refused():
    with pytest.raises(ValueError):
        first(calls=[])
    with pytest.raises(ValueError):
        first(calls=CALLS + CALLS[:1])
    with pytest.raises(ValueError):
        following(calls=[stub.Call(0x1000, SIX + (7,))])


def _disassemble(code: bytes, tmp_path) -> list[tuple[int, str]]:
    """(offset, instruction) of each instruction objdump decodes in `code`."""
    raw = tmp_path / "block.bin"
    raw.write_bytes(code)
    text = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "suffix", str(raw)],
                          capture_output=True, text=True, check=True).stdout
    out = []
    for line in text.splitlines():
        match = re.match(r"^\s*([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(.*)$", line)
        if match:
            out.append((int(match.group(1), 16), match.group(2).strip()))
    return out


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_the_first_block_decodes_to_the_round_trip(tmp_path):
    block = first()
    instructions = _disassemble(block.code[:-8], tmp_path)  # the last 8 bytes are the resume address
    names = [text.split()[0] for _, text in instructions]
    assert "(bad)" not in names
    starts = {offset for offset, _ in instructions}
    assert 2 in starts and block.stop - ADDRESS in starts  # rip lands on instruction boundaries
    assert names.count("pushfq") == 1 and names.count("popfq") == 1
    assert names.count("pushq") == len(stub.PUSHED) and names.count("popq") == len(stub.PUSHED)
    assert names.count("fxsave64") == 1 and names.count("fxrstor64") == 1
    assert names.count("syscall") == 3  # getpid, gettid, tgkill
    # __errno_location, each call, the epilogue's calls: all through r11.
    assert names.count("callq") == 1 + len(CALLS) + len(EPILOGUE)
    assert all("*%r11" in text for _, text in instructions if text.startswith("callq"))
    assert instructions[-1][1].startswith("jmpq") and "(%rip)" in instructions[-1][1]
    # The stop comes after every call of the block and before the epilogue's.
    stop_index = next(i for i, (offset, _) in enumerate(instructions) if offset == block.stop - ADDRESS)
    assert names[stop_index - 1] == "syscall"
    assert names[:stop_index].count("callq") == 1 + len(CALLS) and names[stop_index:].count("callq") == len(EPILOGUE)


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_the_allocator_hook_decodes(tmp_path):
    hook = stub.allocator_hook(ADDRESS, payload_thread=0x7F3A_0000_4000, counter=0x55D0_0000_2300,
                               routed=(0, 0x7F3A_0000_5000), own=(0x55D0_0000_6000, 0x7F3A_0000_6000))
    instructions = _disassemble(hook, tmp_path)
    names = [text.split()[0] for _, text in instructions]
    assert "(bad)" not in names and names.count("jmpq") == 2  # tail calls: routed, own
    jne = next(text for _, text in instructions if text.startswith("jne"))
    own_start = int(jne.split()[1], 16)
    assert own_start in {offset for offset, _ in instructions}
    assert "%fs:0x0" in instructions[0][1]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_the_way_back_of_a_call_the_kernel_restarts_goes_elsewhere_after_a_handler(tmp_path):
    """rax as saved is EINTR when a handler ran as the parked thread resumed: back after the
    `syscall` (interrupted) then, else to the `syscall` again (resume)."""
    interrupted = RESUME + 2
    code = first(interrupted=interrupted).code
    jump = b"\x9d\x48\x8d\xa4\x24" + struct.pack("<i", stub.RED_ZONE_SKIP) + b"\xff\x25\x00\x00\x00\x00"
    assert code.endswith(jump + struct.pack("<Q", interrupted))
    branch = code.index(b"\x48\x83\xf8\xfc\x74")  # cmp rax, -4; je
    restart = code[branch + 6:branch + 6 + code[branch + 5]]
    assert restart == jump + struct.pack("<Q", RESUME)
    assert code[branch + 6 + len(restart):] == jump + struct.pack("<Q", interrupted)
    instructions = _disassemble(code[:branch + 6], tmp_path)
    assert [text.split()[0] for _, text in instructions][-3:] == ["popq", "cmpq", "je"]
    assert "$0xfffffffffffffffc,%rax" in instructions[-2][1]
    # No branch where there is nothing to choose: the same way back, or rax given.
    assert first(interrupted=RESUME).code == first().code
    assert stub.release_block(ADDRESS, resume=RESUME, rax=-4, interrupted=interrupted) == \
        stub.release_block(ADDRESS, resume=RESUME, rax=-4)


def test_a_block_larger_than_its_region_is_refused():
    calls = [stub.Call(0x7FFFFFFF0000 + i, (0x7FFFFFFF1111,) * 6) for i in range(6)]
    epilogue = tuple(stub.Call(0x7FFFFFFF0000 + i, (0x7FFFFFFF1111,) * 3) for i in range(10))
    with pytest.raises(errors.ChannelError, match="more than the 1024 of its region"):
        stub.first_block(0x7F0000000000, calls, errno_location=0x7F0000, resume=0x7F0001, tgid=1, tid=2, signal=28,
                         epilogue=epilogue)


def test_the_payload_s_blocks_fit_with_what_they_let_go_of_on_the_way_back():
    """While the payload is loaded and run (inject/evaluation.py), the epilogue also lets go of its
    buffer, globals and code (four calls more: eleven in all); those blocks make at most 6 calls of 5
    arguments (the guard's handler set ahead, the marks around PyEval_EvalCode)."""
    epilogue = EPILOGUE + tuple(stub.Call(0x7F3A_0000_3000 + i, (0x7F3A_2000_0000,)) for i in range(4))
    calls = [stub.Call(0x7F3A_0000_4000, (1, 2, 3, 4, 5))] * 6
    first = stub.first_block(ADDRESS, calls, errno_location=ERRNO, interrupted=RESUME + 2, **dict(COMMON, epilogue=epilogue))
    after = stub.next_block(ADDRESS, calls, interrupted=RESUME + 2, **dict(COMMON, epilogue=epilogue))
    assert max(len(first.code), len(after.code)) <= stub.MAX_BLOCK


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_an_add_to_an_int_is_made_in_the_block_not_called(tmp_path):
    """stub.ADD_TO_INT (2.7-3.10's tracing mark, inject/evaluation.py): one add to the int at the
    address, no call, around the call it marks."""
    field = 0x7F3A_0000_9000 + 44
    calls = [stub.Call(stub.ADD_TO_INT, (field, 1)), CALLS[0], stub.Call(stub.ADD_TO_INT, (field, -1))]
    block = following(calls=calls)
    instructions = _disassemble(block.code[:block.stop - ADDRESS], tmp_path)
    texts = [text for _, text in instructions]
    adds = [i for i, text in enumerate(texts) if text.startswith("addl")]
    assert [texts[i] for i in adds] == ["addl   $0x1,(%rax)", "addl   $0xffffffff,(%rax)"], texts
    assert block.code.count(struct.pack("<Q", field)) == 2  # movabs rax, field: before each add
    assert [text.split()[0] for text in texts].count("callq") == 1
    call = texts.index(next(t for t in texts if t.startswith("callq")))
    assert adds[0] < call < adds[1]


def _rsp_at_each_instruction(instructions: list[tuple[int, str]], rsp: int, rbx: int, saved_at=None):
    """Follow rsp through a block's straight line (to its first jmpq), as the stub's few
    stack instructions move it: (rsp, the FXSAVE area's address, offset) before each
    instruction while the x87/SSE state is saved, and the area FXRSTOR read."""
    rax = None
    seen, restored_from = [], None
    for offset, text in instructions:
        if saved_at is not None:
            seen.append((rsp, saved_at, offset))
        op, _, operands = text.partition(" ")
        operands = operands.strip()
        if op.startswith("jmp"):
            break
        if op in ("pushq", "pushfq"):
            rsp -= 8
        elif op in ("popq", "popfq"):
            rsp += 8
        elif op == "fxsave64":
            assert operands == "(%rsp)" and rsp % 16 == 0, (text, hex(rsp))
            saved_at = rsp
        elif op == "fxrstor64":
            assert operands == "(%rsp)", text
            restored_from, saved_at = rsp, None
        elif operands.endswith(",%rsp") or operands.endswith(",%rax") or operands.endswith(",%rbx") \
                or operands.endswith(",%eax"):
            source, target = operands.rsplit(",", 1)
            match = re.match(r"^(-?0x[0-9a-f]+)\((%r[a-z]+)\)$", source)
            value = {"%rsp": rsp, "%rbx": rbx, "%rax": rax}.get(source)
            if op == "leaq" and match:
                base = {"%rsp": rsp, "%rbx": rbx, "%rax": rax}[match.group(2)]
                value = base + int(match.group(1), 16)
            elif op in ("subq", "andq") and source.startswith("$"):
                current = {"%rsp": rsp, "%rax": rax, "%rbx": rbx}[target]
                immediate = int(source[1:], 16)
                value = current - immediate if op == "subq" else current & (immediate - (1 << 64) if immediate >> 63 else immediate)
            elif op != "movq":
                value = None  # anything else (a call's result, an immediate, a compare): not an address we follow
            if target == "%rsp":
                assert value is not None, text
                rsp = value
            elif target == "%rbx":
                rbx = value
            else:
                rax = value
        elif op == "callq":
            rax = None
        else:
            assert "%rsp" not in operands, "an instruction this walk does not follow: %s" % text
    return seen, restored_from


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_the_saved_vector_state_stays_above_the_stack_pointer_until_it_is_restored(tmp_path):
    """The kernel writes a signal's frame below rsp (past 128 bytes of red zone).  If rsp points
    above the FXSAVE area at any instruction between FXSAVE and FXRSTOR, a signal delivered at
    that instruction overwrites the saved x87/SSE state: the stub's `mov rsp, rbx` did, and the
    FXRSTOR loaded control words of 0, every exception unmasked, and the target died of SIGFPE
    (2026-12-06, under a 10 ms timer)."""
    epilogues = ((), EPILOGUE)
    for frame in (0x7FFC_0000_1000, 0x7FFC_0000_1008):  # rbx: rsp after the pushes, 8-aligned
        area = (frame - stub.FRAME_BELOW_RBX - stub.FXSAVE_SIZE) & -16
        for epilogue in epilogues:
            block = first(epilogue=epilogue, interrupted=RESUME + 2)
            entry_rsp = frame + 8 * len(stub.PUSHED) + 8 + stub.RED_ZONE_SKIP
            seen, restored = _rsp_at_each_instruction(_disassemble(block.code, tmp_path)[1:], entry_rsp, 0)
            assert seen and restored == area, (hex(restored or 0), hex(area))
            for rsp, saved, _ in seen:
                assert rsp <= saved, ("first", hex(rsp), hex(saved))
            at_stop = next(rsp for rsp, _, offset in seen if offset == block.stop - ADDRESS)  # where later blocks start
            parked = [(following(epilogue=epilogue).code, "next"),
                      (following(epilogue=epilogue, interrupted=RESUME + 2).code, "next, interrupted"),
                      (stub.release_block(ADDRESS, resume=RESUME, epilogue=epilogue, interrupted=RESUME + 2), "release"),
                      (stub.release_block(ADDRESS, resume=RESUME, rax=-4, epilogue=epilogue), "release with rax")]
            for code, kind in parked:
                seen, restored = _rsp_at_each_instruction(_disassemble(code, tmp_path), at_stop, frame, saved_at=area)
                assert seen and restored == area, kind
                for rsp, saved, _ in seen:
                    assert rsp <= saved, (kind, len(epilogue), hex(rsp), hex(saved))


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump (binutils)")
def test_an_epilogue_lets_go_of_what_the_block_made(tmp_path):
    """stub.ResultOf (gc_pause._import_gc's drops): the epilogue's argument is loaded from the slot where
    the block keeps that call's result; the blocks after it get the value itself (with_results)."""
    epilogue = (stub.Call(0x7F3A_0000_3000, (stub.ResultOf(1),)),)
    block = following(calls=CALLS[:2], epilogue=epilogue)
    instructions = _disassemble(block.code[block.stop - ADDRESS:-8], tmp_path)
    loads = [text.split()[1] for _, text in instructions if text.startswith("mov") and text.endswith("(%rbx),%rdi")]
    assert loads == ["-%#x(%%rbx),%%rdi" % -stub.result_offset(1)], [text for _, text in instructions]
    assert stub.with_results([("Py_DecRef", (stub.ResultOf(1),)), ("free", (7,))], [10, 20]) == \
        [("Py_DecRef", (20,)), ("free", (7,))]
