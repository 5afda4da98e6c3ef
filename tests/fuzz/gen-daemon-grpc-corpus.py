#!/usr/bin/env python3
# Writes the seed corpus of fuzz-daemon-grpc (tests/fuzz/corpus/daemon-grpc/): one valid
# request per method, in the target's input format (method byte, 16-bit big-endian length,
# protobuf body), plus a sequence of calls. Run from the top of the tree.
import os
import struct

OUT = 'tests/fuzz/corpus/daemon-grpc'
METHODS = ['Prepare', 'View', 'Mounts', 'Commit', 'Remove', 'Stat', 'Update', 'List', 'Usage',
           'Cleanup']


def varint(n):
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def ld(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def vi(field, n):
    return varint(field << 3) + varint(n)


def label(field, k, v):
    return ld(field, ld(1, k) + ld(2, v))


def call(method, body):
    return bytes([METHODS.index(method)]) + struct.pack('>H', len(body)) + body


sn = ld(1, 'thinsnap')
seeds = {
    'prepare': call('Prepare', sn + ld(2, 'c1') + ld(3, 'base') + label(4, 'containerd.io/gc.root', 'x')),
    'prepare-parentless': call('Prepare', sn + ld(2, 'p0')),
    'view': call('View', sn + ld(2, 'v1') + ld(3, 'base')),
    'mounts': call('Mounts', sn + ld(2, 'work')),
    'commit': call('Commit', sn + ld(2, 'work-c') + ld(3, 'work') + label(4, 'a', 'b')),
    'remove': call('Remove', sn + ld(2, 'work')),
    'remove-has-children': call('Remove', sn + ld(2, 'base')),
    'stat': call('Stat', sn + ld(2, 'base')),
    'update': call('Update', sn + ld(2, ld(1, 'base') + vi(3, 3) + ld(4, vi(1, 1700000000) + vi(2, 5)) +
                                     label(6, 'k', 'v')) + ld(3, ld(1, 'labels.k'))),
    'update-bad-field': call('Update', sn + ld(2, ld(1, 'work') + ld(2, 'other')) + ld(3, ld(1, 'parent'))),
    'list': call('List', sn),
    'list-filters': call('List', sn + ld(2, 'kind==committed') + ld(2, 'labels."a"==b,name~=^w')),
    'usage': call('Usage', sn + ld(2, 'work')),
    'cleanup': call('Cleanup', sn),
}
seeds['sequence'] = b''.join(seeds[k] for k in ('prepare', 'commit', 'view', 'list', 'remove', 'stat'))
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
