'use strict';
// ref()/unref(): an iterator waiting on an unref'd uffd with nothing pending lets the process
// exit; a ref'd one (the default) keeps it alive. The probe is an unref'd timer: it can only
// fire if something else keeps the loop alive. Output: EXIT (loop emptied) or ALIVE (kept).
// argv[2]: 'ref' | 'unref' | 'unref-then-ref' | 'unref-before-events'
const { u } = require('./common');

const mode = process.argv[2];
const ps = u.pageSize;
const uffd = u.Userfaultfd.open();
const m = u.Mapping.anonymous(ps);
uffd.register(m.address, ps);
if (mode === 'unref-before-events') uffd.unref();
const it = uffd.events();
it.next().then((r) => console.log('EVENT', JSON.stringify(r)));
if (mode === 'unref') uffd.unref();
if (mode === 'unref-then-ref') uffd.unref().ref();
setTimeout(() => {
  console.log('ALIVE');
  process.exit(0);
}, 300).unref();
process.on('exit', () => console.log('EXIT'));
