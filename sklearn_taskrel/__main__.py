import sys

from sklearn_taskrel.cli import main

sys.exit(main())
