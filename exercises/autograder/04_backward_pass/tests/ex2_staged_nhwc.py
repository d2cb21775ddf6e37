# Generated from exercises/masters/04_backward_pass.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_staged_nhwc"
points = None

@test_case(points=1, hidden=False)
def test_small(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'staged_backward_nhwc')
    forward = g.function(env, 'staged_forward_nhwc')
    rng = np.random.default_rng(411)
    x = rng.normal(loc=1.0, scale=2.0, size=(2, 3, 3, 4))
    gamma, beta, dout = (rng.normal(size=4), rng.normal(size=4), rng.normal(size=(2, 3, 3, 4)))
    _, kept = g.call(forward, x, gamma, beta, 0.001, name='staged_forward_nhwc')
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, beta, 0.001)[1])
    case = 'case 1: x and a random dout of shape (2, 3, 3, 4)'
    got = g.call(f, dout, kept, case=case, name='staged_backward_nhwc', arg_names=['dout', 'kept'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09, hint='c feeds nodes 3 and 7 and x feeds nodes 1 and 2: add the gradients from both paths')

@test_case(points=1, hidden=True)
def test_other_shape(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'staged_backward_nhwc')
    forward = g.function(env, 'staged_forward_nhwc')
    rng = np.random.default_rng(412)
    x = rng.normal(loc=-3.0, scale=0.7, size=(3, 2, 5, 2))
    gamma, beta, dout = (np.array([2.0, -1.5]), rng.normal(size=2), rng.normal(size=(3, 2, 5, 2)))
    _, kept = g.call(forward, x, gamma, beta, 0.05, name='staged_forward_nhwc')
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, beta, 0.05)[1])
    case = 'case 2: x of shape (3, 2, 5, 2), epsilon=0.05'
    got = g.call(f, dout, kept, case=case, name='staged_backward_nhwc', arg_names=['dout', 'kept'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09)

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'staged_backward_nhwc')
    forward = g.function(env, 'staged_forward_nhwc')
    rng = np.random.default_rng(413)
    x = rng.normal(size=(2, 2, 2, 3))
    gamma, beta, dout = (rng.normal(size=3), rng.normal(size=3), rng.normal(size=(2, 2, 2, 3)))
    _, kept = g.call(forward, x, gamma, beta, 0.001, name='staged_forward_nhwc')
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, beta, 0.001)[1])
    case = 'case 3: dout and the arrays in kept are read-only'
    got = g.call(f, dout, kept, case=case, name='staged_backward_nhwc', arg_names=['dout', 'kept'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09)

