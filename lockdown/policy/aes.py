"""AES-CBC with PKCS#7 padding: how Numbas launch links and encrypted .seb files are sealed.

``cryptography`` is imported on first use: most sessions never decrypt anything, and the import
costs ~20 ms and several MiB in every start-up otherwise.
"""

from __future__ import annotations


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The plaintext; ValueError when the padding is wrong (a wrong key, mostly)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()
