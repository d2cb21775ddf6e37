# Generated from exercises/masters/06_placement_and_limitations.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex5_masked_batch_norm"
points = None

@test_case(points=1, hidden=False)
def test_two_sentences(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'masked_batch_norm')
    rng = np.random.default_rng(63)
    x = np.zeros((2, 5, 3))
    x[0, :3] = rng.normal(size=(3, 3))
    x[1, :5] = rng.normal(1.0, 2.0, size=(5, 3))
    mask = np.array([[True] * 3 + [False] * 2, [True] * 5])
    gamma, beta = (np.array([1.0, 2.0, 0.5]), np.array([0.0, 0.5, -1.0]))
    mean, var = bnlib.batch_statistics(x[mask])
    expected = gamma * (x - mean) / np.sqrt(var + 0.001) + beta
    case = 'case 1: sentences of 3 and 5 tokens, zero-padded to (B, T, D) = (2, 5, 3)'
    got = g.call(f, x, mask, gamma, beta, 0.001, case=case, name='masked_batch_norm', arg_names=['x', 'mask', 'gamma', 'beta', 'epsilon'], forbid=g.bnlib_functions())
    g.check_array(got, expected, case=case, name='y', hint="each feature's mean and variance over the real tokens (x[mask]) only; then every position normalized with them")

@test_case(points=1, hidden=True)
def test_padding(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'masked_batch_norm')
    rng = np.random.default_rng(64)
    sentences = [rng.normal(size=(3, 4)), rng.normal(-1.0, 0.5, size=(6, 4))]
    gamma, beta = (rng.normal(size=4), rng.normal(size=4))
    for length, fill in [(6, 0.0), (12, 0.0), (9, 50.0)]:
        x = np.full((2, length, 4), fill)
        mask = np.zeros((2, length), bool)
        for i, s in enumerate(sentences):
            x[i, :len(s)], mask[i, :len(s)] = (s, True)
        mean, var = bnlib.batch_statistics(x[mask])
        expected = gamma * (x - mean) / np.sqrt(var + 0.001) + beta
        case = f'case 2: sentences of 3 and 6 tokens padded to {length} with the value {fill:g}'
        got = g.call(f, x, mask, gamma, beta, 0.001, case=case, name='masked_batch_norm', arg_names=['x', 'mask', 'gamma', 'beta', 'epsilon'], forbid=g.bnlib_functions())
        g.check_array(got, expected, case=case, name='y', hint='the padded positions must not enter the statistics, however many there are and whatever they hold')

@test_case(points=1, hidden=True)
def test_no_padding(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'masked_batch_norm')
    rng = np.random.default_rng(65)
    x = rng.normal(2.0, 0.2, size=(3, 4, 2))
    gamma, beta = (np.array([1.5, -0.5]), np.array([0.2, 0.0]))
    mask = np.ones((3, 4), bool)
    expected = bnlib.batch_norm_forward(x.reshape(12, 2), gamma, beta, 0.1)[0].reshape(3, 4, 2)
    case = 'case 3: no padding (every mask entry True), x of shape (3, 4, 2), epsilon=0.1'
    got = g.call(f, x, mask, gamma, beta, 0.1, case=case, name='masked_batch_norm', arg_names=['x', 'mask', 'gamma', 'beta', 'epsilon'], forbid=g.bnlib_functions())
    g.check_array(got, expected, case=case, name='y', hint='without padding this is plain BN over the B * T tokens; use the epsilon argument')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'masked_batch_norm')
    rng = np.random.default_rng(66)
    lengths = [2, 6, 4]
    x = np.zeros((3, 6, 5))
    mask = np.zeros((3, 6), bool)
    for i, n in enumerate(lengths):
        x[i, :n], mask[i, :n] = (rng.normal(i, 1.0 + i, size=(n, 5)), True)
    gamma, beta = (rng.normal(size=5), rng.normal(size=5))
    mean, var = bnlib.batch_statistics(x[mask])
    expected = gamma * (x - mean) / np.sqrt(var + 0.001) + beta
    case = 'case 4: sentences of 2, 6 and 4 tokens, every argument read-only'
    got = g.call(f, x, mask, gamma, beta, 0.001, case=case, name='masked_batch_norm', arg_names=['x', 'mask', 'gamma', 'beta', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
    g.check_array(got, expected, case=case, name='y')

