"""The watermark's payload code: a 48-bit ID, a CRC-16 to detect errors, and a rate-1/2
convolutional code (K=7, the NASA/Voyager generators 171, 133 octal) decoded by soft Viterbi.

    watermark_id (48 bits) -> message = id | crc16(id)   (64 bits)
                           -> coded bits (2 x (64 + 6 tail) = 140 "raw" channel bits)

The code corrects scattered bit errors (about 5 dB of coding gain with soft decisions); the CRC
then tells a correct decode from a wrong one, which is also what bounds false positives: on an
unmarked image the decoded message is uniformly random (see `watermark.py`), so it passes the
CRC with probability 2**-16.
"""

from __future__ import annotations

import binascii
from functools import lru_cache

import numpy as np

ID_BITS = 48                 # watermark IDs are ints in [0, 2**48)
CRC_BITS = 16
MESSAGE_BITS = ID_BITS + CRC_BITS
CONSTRAINT_LENGTH = 7        # the encoder remembers the last 6 message bits
MEMORY = CONSTRAINT_LENGTH - 1
STATES = 1 << MEMORY         # 64 trellis states
GENERATORS = (0o171, 0o133)  # the standard K=7 pair: free distance 10
CODED_BITS = len(GENERATORS) * (MESSAGE_BITS + MEMORY)  # 140, the tail returns the encoder to 0


def crc16(watermark_id: int) -> int:
    """CRC-16/CCITT-FALSE of the ID's 6 big-endian bytes."""
    return binascii.crc_hqx(watermark_id.to_bytes(ID_BITS // 8, "big"), 0xFFFF)


def int_to_bits(value: int, width: int) -> np.ndarray:
    """Most significant bit first; [width] uint8 in {0, 1}."""
    whole_bytes = -(-width // 8)
    bits = np.unpackbits(np.frombuffer(value.to_bytes(whole_bytes, "big"), np.uint8))
    return bits[8 * whole_bytes - width:]


def bits_to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2) if len(bits) else 0


def message_bits(watermark_id: int) -> np.ndarray:
    """[64] uint8: the ID followed by its CRC."""
    if not 0 <= watermark_id < 1 << ID_BITS:
        raise ValueError(f"watermark_id must be in [0, 2**{ID_BITS}), got {watermark_id}")
    return np.concatenate([int_to_bits(watermark_id, ID_BITS),
                           int_to_bits(crc16(watermark_id), CRC_BITS)])


def id_from_message(message: np.ndarray) -> int | None:
    """The ID if the message's CRC checks, else None."""
    watermark_id = bits_to_int(message[:ID_BITS])
    return watermark_id if bits_to_int(message[ID_BITS:]) == crc16(watermark_id) else None


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """Output symbols of every transition, and each state's two predecessors.

    A register holds (previous state << 1) | new bit, 7 bits; state = register & 63.
    Returns symbols [128, 2] float32 in {-1, +1} (bit 1 -> +1) indexed by register, and
    predecessors [64, 2] int64: the two states that lead to each state.
    """
    registers = np.arange(1 << CONSTRAINT_LENGTH)
    parity = lambda x: np.array([bin(int(v)).count("1") & 1 for v in x])
    symbols = np.stack([2.0 * parity(registers & g) - 1.0 for g in GENERATORS], axis=1)
    states = np.arange(STATES)
    predecessors = np.stack([states >> 1, (states >> 1) | (1 << (MEMORY - 1))], axis=1)
    return symbols.astype(np.float32), predecessors


def encode(message: np.ndarray) -> np.ndarray:
    """[64] message bits -> [140] coded bits (uint8), the encoder flushed back to state 0.

    Bit k of the register (k = 0 newest) holds message bit t - k, so each generator's output
    is the message convolved with the generator's bits, mod 2; the two outputs interleave."""
    flushed = np.concatenate([message, np.zeros(MEMORY, np.uint8)]).astype(np.int64)
    outputs = [np.convolve(flushed, [(g >> k) & 1 for k in range(CONSTRAINT_LENGTH)])
               [:len(flushed)] & 1 for g in GENERATORS]
    return np.stack(outputs, axis=1).ravel().astype(np.uint8)


def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Maximum-likelihood message for soft channel values.

    soft: [140] float, positive means coded bit 1, magnitude = confidence (a correlation).
    Returns [64] uint8 message bits. The path metric is the correlation between `soft` and the
    path's +-1 symbols, which is ML for Gaussian noise.
    """
    symbols, predecessors = _trellis()
    steps = soft.reshape(-1, len(GENERATORS)).astype(np.float32)       # [70, 2]
    # State s is entered from predecessor p with new bit s & 1: register = (p << 1) | (s & 1).
    registers = (predecessors << 1) | (np.arange(STATES)[:, None] & 1)  # [64, 2]
    # Every branch metric of every step in one product: [70, 2 (which predecessor), 64].
    branch = np.ascontiguousarray((symbols[registers] @ steps.T).transpose(2, 1, 0))
    first, second = predecessors[:, 0], predecessors[:, 1]
    metric = np.full(STATES, -np.inf, np.float32)
    metric[0] = 0.0
    choices = np.empty((len(steps), STATES), bool)                     # True: second
    for t in range(len(steps)):
        from_first = metric[first] + branch[t, 0]
        from_second = metric[second] + branch[t, 1]
        np.greater(from_second, from_first, out=choices[t])
        metric = np.maximum(from_first, from_second)
    came_from = predecessors.tolist()
    state, bits = 0, [0] * len(steps)
    for t, chose in zip(range(len(steps) - 1, -1, -1), choices[::-1].tolist()):
        bits[t] = state & 1
        state = came_from[state][chose[state]]
    return np.array(bits[:MESSAGE_BITS], np.uint8)
