"""An asyncio service whose _asyncio module keeps freed iterators in its free list.  Python 3.7+.

    python asyncio_free_list.py

On CPython 3.12.0-3.12.4, gc.get_referents(_asyncio) hands out those freed iterators
(CPython gh-122695): letting go of them frees them again, the free list then loops, and the
next traversal appends for ever.  Its address space is capped at 2 GiB, so that such a loop
ends in a MemoryError here rather than in the machine's OOM killer.  Prints "ready", then
"tick N" every half second (each sleep awaits a future: its iterator goes to the free list).
"""

import asyncio
import resource

resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


async def main():
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(10)]
    iterators = [iter(f) for f in futures]
    del iterators  # ten freed iterators in the free list
    print("ready", flush=True)
    ticks = 0
    while True:
        await asyncio.sleep(0.5)
        ticks += 1
        print("tick %d" % ticks, flush=True)


asyncio.run(main())
