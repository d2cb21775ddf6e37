"""Start the IPython kernel that runs a submission: ``python -m grading.kernel_launcher -f FILE``.

The same as ``python -m ipykernel_launcher``, except that jsonschema's optional IRI format checks
are left out (see :func:`grading.kernels.skip_slow_imports`), which saves a few seconds per graded
notebook, and that a kernel started by the grader records its pid
(:func:`grading.kernels.record_this_kernel`): jupyter_client starts kernels in a session of their
own, out of reach of the kill of their worker's process group, so the grader kills them by pid.
"""

import sys

if __name__ == "__main__":
    if sys.path and sys.path[0] in ("", "."):
        del sys.path[0]  # as ipykernel_launcher does: not the kernel's working directory first
    from grading.kernels import record_this_kernel, skip_slow_imports

    skip_slow_imports()
    record_this_kernel()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
