"""`{alarm_id:id}` in a route: a database id, at most 18 digits (a BIGINT holds
any of them). A longer number is no id of ours: the route does not match and
the answer is a 404, not an overflow in the database driver."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class IdConvertor(Convertor[int]):
    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())
