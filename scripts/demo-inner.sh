#!/bin/bash
# Placeholder until pool/ lands: shows that dm-thin works here.
set -eu
dmsetup targets | grep thin
