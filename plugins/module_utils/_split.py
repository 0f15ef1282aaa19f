# -*- coding: utf-8 -*-
# Copyright: nextgen.rollout contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to the nextgen.rollout collection: no compatibility promise outside it.
"""The lines of an nginx ``split_clients`` block between a stable and a candidate upstream.

nginx hashes the key (MurmurHash2) and gives each line, in order, the next slice of the hash
space. The candidate line comes first, so raising its share only widens the slice it already had:
clients that were on the candidate stay there, and only clients from the stable slice move.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

HUNDRED = Decimal("100")


def share_problem(share):
    """Why ``share`` is not a valid canary share (0 to 100 %, at most two decimals); "" if it is."""
    if isinstance(share, bool) or share is None:
        return "canary share %r is not a number: give a percentage from 0 to 100, e.g. 10 or 12.5" % (share,)
    try:
        value = Decimal(str(share).strip().rstrip("%"))
    except InvalidOperation:
        return "canary share %r is not a number: give a percentage from 0 to 100, e.g. 10 or 12.5" % (share,)
    if not value.is_finite() or value < 0 or value > HUNDRED:
        return "canary share %s %% is outside 0 to 100 %%" % (share,)
    if value != value.quantize(Decimal("0.01")):
        return "canary share %s %% has more than two decimals, which nginx split_clients cannot express" % (share,)
    return ""


def normalise(share):
    problem = share_problem(share)
    if problem:
        raise ValueError(problem)
    return Decimal(str(share).strip().rstrip("%")).quantize(Decimal("0.01"))


def split_lines(share, candidate, stable):
    """split_clients lines sending ``share`` % to ``candidate`` and the rest to ``stable``."""
    value = normalise(share)
    if value == 0:
        return ["* %s;" % stable]
    if value == HUNDRED:
        return ["* %s;" % candidate]
    text = format(value, "f").rstrip("0").rstrip(".")
    return ["%s%% %s;" % (text, candidate), "* %s;" % stable]
