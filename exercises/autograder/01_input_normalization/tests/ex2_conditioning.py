# Generated from exercises/masters/01_input_normalization.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_conditioning"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['kappa', 'eta_max', 'steps_ratio']:
        value = g.answer(env, name)
        if value <= 0:
            raise g.ExerciseFailure(f'`{name}` should be a positive number, got {value}')

@test_case(points=1, hidden=True)
def test_kappa(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'kappa'), 4.0, name='kappa', rtol=0.01, reveal=False, hint='after the z-score H has 1 on its diagonal and the correlation off the diagonal between the two features')

@test_case(points=1, hidden=True)
def test_eta_max(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'eta_max'), 1.25, name='eta_max', rtol=0.01, reveal=False, hint='eta_max = 2 / lambda_max')

@test_case(points=1, hidden=True)
def test_steps_ratio(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'steps_ratio'), 4.848359184430831, name='steps_ratio', factor=1.3, reveal=False)

