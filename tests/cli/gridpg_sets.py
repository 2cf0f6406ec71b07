"""Datasets in CLIP_benchmark's layout for test_eval_gridpg.sh, written with the standard library.

gridpg_sets.py pool DIR: 27 solid-colour PNGs (each channel 0, 128 or 255), keys c00..c26, all of
class 0 among 1000 classes "item 0".."item 999", one template, in two shards (10 and 17).
gridpg_sets.py relabel PREDICTIONS.csv DIR: the same images, each labelled with the class a model
predicted for it (PREDICTIONS.csv as `bcos eval --predictions` writes it on the pool), the classes
being the predicted ones only: a set the model classifies right, image by image.
"""
import io, os, struct, sys, tarfile, zlib, itertools

def png(rgb, side=40):
    raw = b''.join(b'\0' + bytes(rgb) * side for _ in range(side))
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

def write(dir, classes, samples):
    """Two shards of unequal size: the first 10 samples, then the rest."""
    os.makedirs(dir + '/test', exist_ok=True)
    open(dir + '/classnames.txt', 'w').write('\n'.join(classes) + '\n')
    open(dir + '/zeroshot_classification_templates.txt', 'w').write('a photo of a {c}.\n')
    open(dir + '/test/nshards.txt', 'w').write('2\n')
    for shard, part in enumerate((samples[:10], samples[10:])):
        with tarfile.open('%s/test/%d.tar' % (dir, shard), 'w') as tar:
            for key, label, data in part:
                for ext, body in (('png', data), ('cls', str(label).encode())):
                    info = tarfile.TarInfo('%s.%s' % (key, ext)); info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))

colours = list(itertools.product([0, 128, 255], repeat=3))
if sys.argv[1] == 'pool':
    write(sys.argv[2], ['item %d' % i for i in range(1000)], [('c%02d' % i, 0, png(c)) for i, c in enumerate(colours)])
else:
    top1 = {}
    for line in open(sys.argv[2]).read().split('\n')[1:]:
        if line: f = line.split(','); top1[f[1]] = int(f[3])
    names = sorted(set(top1.values()))
    write(sys.argv[3], ['item %d' % n for n in names],
          [('c%02d' % i, names.index(top1['c%02d' % i]), png(c)) for i, c in enumerate(colours)])
