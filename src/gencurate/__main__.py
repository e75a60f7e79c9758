import sys

from gencurate.cli import main

sys.exit(main())
