# Generated from exercises/masters/05_inference.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex4_fold_before_dense"
points = None

@test_case(points=1, hidden=False)
def test_small(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'fold_bn_before_dense')
    rng = np.random.default_rng(57)
    kernel, bias = (rng.normal(size=(3, 2)), rng.normal(size=2))
    gamma, beta = (np.array([2.0, 0.5, -1.0]), np.array([0.1, 0.0, 3.0]))
    mean, var = (np.array([1.0, -2.0, 0.0]), np.array([0.5, 4.0, 1.0]))
    x = rng.normal(size=(6, 3))
    case = 'case 1: kernel of shape (D_in, D_out) = (3, 2), epsilon=1e-3'
    got = g.call(f, kernel, bias, gamma, beta, mean, var, 0.001, case=case, name='fold_bn_before_dense', arg_names=['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'epsilon'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (kernel_folded, bias_folded), got {g.describe(got)}')
    k = g.check_shape(got[0], (3, 2), case=case, name='kernel_folded')
    b = g.check_shape(got[1], 2, case=case, name='bias_folded')
    g.check_array(x @ k + b, bnlib.batch_norm_inference(x, mean, var, gamma, beta, 0.001) @ kernel + bias, case=case, name='x @ kernel_folded + bias_folded', hint='BN scales each *input* feature: the scale multiplies the rows of the kernel, and the shift passes through the kernel into the bias')

@test_case(points=1, hidden=True)
def test_other_shapes(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'fold_bn_before_dense')
    rng = np.random.default_rng(58)
    for d_in, d_out, eps in [(5, 7, 0.1), (4, 4, 1e-05)]:
        kernel, bias = (rng.normal(size=(d_in, d_out)), rng.normal(size=d_out))
        gamma, beta = (rng.normal(size=d_in), rng.normal(size=d_in))
        mean, var = (rng.normal(size=d_in) * 3, rng.uniform(0.01, 5.0, size=d_in))
        x = rng.normal(size=(10, d_in)) * 2
        case = f'case 2: kernel of shape ({d_in}, {d_out}), epsilon={eps}'
        got = g.call(f, kernel, bias, gamma, beta, mean, var, eps, case=case, name='fold_bn_before_dense', arg_names=['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'epsilon'], forbid=g.bnlib_functions())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise g.ExerciseFailure(f'{case}: expected the pair (kernel_folded, bias_folded), got {g.describe(got)}')
        k = g.check_shape(got[0], (d_in, d_out), case=case, name='kernel_folded')
        b = g.check_shape(got[1], d_out, case=case, name='bias_folded')
        g.check_array(x @ k + b, bnlib.batch_norm_inference(x, mean, var, gamma, beta, eps) @ kernel + bias, case=case, name='x @ kernel_folded + bias_folded')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'fold_bn_before_dense')
    rng = np.random.default_rng(59)
    kernel, bias = (rng.normal(size=(2, 3)), rng.normal(size=3))
    gamma, beta, mean, var = (rng.normal(size=2), rng.normal(size=2), rng.normal(size=2), np.array([1.0, 2.0]))
    x = rng.normal(size=(4, 2))
    case = 'case 3: every argument read-only'
    got = g.call(f, kernel, bias, gamma, beta, mean, var, 0.001, case=case, name='fold_bn_before_dense', arg_names=['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (kernel_folded, bias_folded), got {g.describe(got)}')
    k = g.check_shape(got[0], (2, 3), case=case, name='kernel_folded')
    b = g.check_shape(got[1], 3, case=case, name='bias_folded')
    g.check_array(x @ k + b, bnlib.batch_norm_inference(x, mean, var, gamma, beta, 0.001) @ kernel + bias, case=case, name='x @ kernel_folded + bias_folded')

