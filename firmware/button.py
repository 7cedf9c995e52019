# The hidden button: a press counts once it has held for debounce_ms, so a
# bounce or a bump shorter than that raises nothing. A button held down (or
# stuck) gives one press, not a stream of them.
import asyncio


class Button:
    def __init__(self, pin, is_pressed, debounce_ms):
        self.pin = pin
        self.is_pressed = is_pressed
        self.debounce_ms = debounce_ms
        self._edge = asyncio.ThreadSafeFlag()
        pin.irq(self._on_edge)

    def _on_edge(self, _pin):
        self._edge.set()  # an IRQ only wakes; the task does the work

    async def press(self):
        """Return once the next press has held for debounce_ms."""
        while True:
            while not self.is_pressed(self.pin):
                await self._edge.wait()
            await asyncio.sleep_ms(self.debounce_ms)
            if self.is_pressed(self.pin):
                return

    async def release(self):
        while self.is_pressed(self.pin):
            await self._edge.wait()
