"""The course's machinery, kept apart from the batch-normalization library ``bnlib``.

``bncourse.evidence``
    seeds shifted by ``BN_SEED_OFFSET``, samples over seeds, claims asserted with the margin the
    seeds support, and glue of rounded values and bounds (portable stored outputs).
"""
