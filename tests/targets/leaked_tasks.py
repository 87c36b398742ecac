"""An asyncio service that leaks tasks: 300 handlers wait for an event that never comes,
150 sleep for an hour (issue 14: the census counted _asyncio.Task, and where they wait
was nowhere).  Prints "ready", then "tick N" every half second.  Python 3.6+.
"""

import asyncio
import sys

LEAKED = []


async def wait_for_reply(event):
    await event.wait()  # where the leaked handlers wait


async def handler(event):
    await wait_for_reply(event)


async def main():
    event = asyncio.Event()
    LEAKED.extend(asyncio.ensure_future(handler(event)) for _ in range(300))
    LEAKED.extend(asyncio.ensure_future(asyncio.sleep(3600)) for _ in range(150))
    await asyncio.sleep(0.1)
    print("ready")
    sys.stdout.flush()
    ticks = 0
    while True:
        await asyncio.sleep(0.5)
        ticks += 1
        print("tick %d" % ticks)
        sys.stdout.flush()


if hasattr(asyncio, "run"):
    asyncio.run(main())
else:  # 3.6
    asyncio.get_event_loop().run_until_complete(main())
