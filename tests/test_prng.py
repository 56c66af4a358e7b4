"""gru_jax.prng: the unrolled threefry gives jax's default PRNG's numbers bit for bit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gru_jax.prng import fast_key, threefry2x32

DRAWS = {
    "bits": lambda k: jax.random.bits(k, (5, 7)),
    "bits8": lambda k: jax.random.bits(k, (3,), jnp.uint8),
    "bits16": lambda k: jax.random.bits(k, (3,), jnp.uint16),
    "randint": lambda k: jax.random.randint(k, (1000, 4), 0, 100),
    "uniform": lambda k: jax.random.uniform(k, (999,)),
    "normal": lambda k: jax.random.normal(k, (6, 3)),
    "permutation": lambda k: jax.random.permutation(jax.random.fold_in(k, 2**31 - 1), 8000),
    "split": lambda k: jax.random.key_data(jax.random.split(k, 3)),
}


@pytest.mark.parametrize("seed", [0, 37, 2**32 - 1])
def test_every_draw_equals_the_default_key(seed):
    key = jax.random.key(seed)
    fast = fast_key(jax.random.key_data(key))
    for name, draw in DRAWS.items():
        expected, got = np.asarray(draw(key)), np.asarray(draw(fast))
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_jitted_and_vmapped_draws_equal_the_default_key():
    keys = jax.random.key_data(jax.random.split(jax.random.key(3), 20))
    draw = lambda wrap: jax.jit(jax.vmap(lambda k: jax.random.uniform(
        jax.random.split(wrap(k))[1], (100, 4))))(keys)
    np.testing.assert_array_equal(draw(fast_key), draw(jax.random.wrap_key_data))


def test_threefry_known_answer():
    """The Random123 known-answer vectors for Threefry-2x32, 20 rounds (also in jax's tests):
    key (0, 0), count (0, 0) -> (0x6b200159, 0x99ba4efe); key and count all ones ->
    (0x1cb996fc, 0xbb002be7); key (0x13198a2e, 0x03707344), count (0x243f6a88, 0x85a308d3)
    -> (0xc4923a9c, 0x483df7a0)."""
    cases = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
             ((0xFFFFFFFF,) * 2, (0xFFFFFFFF,) * 2, (0x1CB996FC, 0xBB002BE7)),
             ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for key, count, expected in cases:
        out = threefry2x32(jnp.asarray(key, jnp.uint32), jnp.uint32(count[0]),
                           jnp.uint32(count[1]))
        assert (int(out[0]), int(out[1])) == expected
