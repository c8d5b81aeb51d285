"""Install mmpretrain-osdtw, the OSDTW long-tailed recognition plug-in for
MMPretrain.

``install_requires`` holds the ranges the code supports (the reasons are next
to each range and in docs/en/get_started.md); the exact stack measured to work
together is ``requirements/pinned.txt``, used with ``pip install -c``.
"""
from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def version() -> str:
    scope: dict = {}
    with open('mmpretrain_osdtw/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmpretrain_osdtw',
    version=version(),
    description='OSDTW (Optimal Shared Depth and Task Weighting) and other '
    'long-tailed recognition methods as an MMPretrain plug-in',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    # The oldest Python the code's syntax and standard library allow
    # (vermin: 3.9, e.g. os.waitstatus_to_exitcode), tested on 3.9 and 3.11.
    python_requires='>=3.9',
    install_requires=[
        # torch.func (2.0) for the per-sample Fisher gradients,
        # torch.nn.attention.sdpa_kernel (2.3), and the weights-only
        # checkpoint loading with (function, name) allow-list entries (2.6;
        # 2.5.1 fails those tests); docs/en/get_started.md, "Tested stacks".
        'torch>=2.6',
        # the release paired with torch 2.6; mmpretrain imports it.
        'torchvision>=0.21',
        # 0.10.3 gathers the DDP metric results differently (the
        # Many/Medium/Few metric is no longer exact under DDP); 0.10.4 is.
        'mmengine>=0.10.4,<1',
        # pure-Python mmcv (no compiled ops); mmpretrain asserts
        # mmcv<2.4; 2.0.x augments differently from the fast transforms.
        'mmcv-lite>=2.1,<2.4',
        'mmpretrain>=1.2,<2',
        # mmengine resolves 'mmpretrain::' config paths with pkg_resources,
        # which setuptools 81 removed.
        'setuptools>=70,<81',
        'numpy>=1.26',
        'scikit-learn>=1.3',
        'matplotlib>=3.7',
    ],
    extras_require={
        'tests': ['pytest>=8', 'pytest-xdist>=3.5', 'scipy>=1.11'],
    },
    license='Apache License 2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
