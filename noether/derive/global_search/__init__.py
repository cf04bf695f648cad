"""The global searches: exact (mod p, certified) and numeric (SVD), for models of up to 64 parameters."""
