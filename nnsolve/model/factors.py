"""Divisors and ordered factorisations of loop counts, fast for any count the model admits.

Loop blocking splits each loop count n over three levels: every ordered triple with
product n. Enumerating the divisors by trial up to n took minutes for the loop counts of
large layers (a batch loop of 2^30); here n is factored (trial division by small primes,
then Pollard's rho with a deterministic Miller-Rabin test) and the divisors built from the
prime powers, so their number, not n, sets the cost.
"""

from __future__ import annotations

import math
from functools import lru_cache

#: Miller-Rabin witnesses that decide primality deterministically below 3.3e24.
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
_SMALL_PRIMES = tuple(p for p in range(2, 1000) if all(p % q for q in range(2, int(p**0.5) + 1)))


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES[:13]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _rho(n: int) -> int:
    """A non-trivial factor of the odd composite n (Pollard's rho, Brent's cycle finding)."""
    for c in range(1, n):
        y, m, g, r, q = 2, 128, 1, 1, 1
        x = ys = y
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % n
            k = 0
            while k < r and g == 1:
                ys = y
                for _ in range(min(m, r - k)):
                    y = (y * y + c) % n
                    q = q * abs(x - y) % n
                g = math.gcd(q, n)
                k += m
            r *= 2
        if g == n:
            g = 1
            while g == 1:
                ys = (ys * ys + c) % n
                g = math.gcd(abs(x - ys), n)
        if g != n:
            return g
    raise ArithmeticError(f"no factor of {n} found")       # unreachable for composites


@lru_cache(maxsize=4096)
def prime_factors(n: int) -> tuple[tuple[int, int], ...]:
    """(prime, exponent) pairs of n >= 1, by increasing prime."""
    if n < 1:
        raise ValueError(f"expected a positive integer, got {n}")
    found: dict[int, int] = {}
    for p in _SMALL_PRIMES:
        while n % p == 0:
            found[p] = found.get(p, 0) + 1
            n //= p
    todo = [n] if n > 1 else []
    while todo:
        m = todo.pop()
        if _is_prime(m):
            found[m] = found.get(m, 0) + 1
        else:
            f = _rho(m)
            todo += [f, m // f]
    return tuple(sorted(found.items()))


@lru_cache(maxsize=4096)
def divisors(n: int) -> tuple[int, ...]:
    """Every divisor of n >= 1, in increasing order."""
    divs = [1]
    for p, e in prime_factors(n):
        divs = [d * p**k for d in divs for k in range(e + 1)]
    return tuple(sorted(divs))


def triple_count(n: int) -> int:
    """How many ordered triples (a, b, c) have a * b * c = n."""
    return math.prod((e + 1) * (e + 2) // 2 for _, e in prime_factors(n))


def factor_triples(n: int) -> list[tuple[int, int, int]]:
    """Ordered triples with product n, in nn_dataflow's enumeration order (by the first
    factor, then the second)."""
    divs = divisors(n)
    return [(a, b, n // a // b) for a in divs for b in divisors(n // a)]
