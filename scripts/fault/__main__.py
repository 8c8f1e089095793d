import sys

from scripts.fault.main import main

sys.exit(main())
