"""Identity resolution: which profile does a message belong to, and which profiles are one person.

``identities`` extracts the identities a message carries; ``resolution`` plans profile creation,
merges and refused merges as a pure function; storage carries the plan out in one transaction.
"""
