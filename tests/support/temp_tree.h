/* Temporary folders for tests: removing a whole tree the test made under /tmp, counting what is left. */
#ifndef BCOS_TEST_TEMP_TREE_H
#define BCOS_TEST_TEMP_TREE_H

/* Removes dir and everything below it (symbolic links themselves, not what they point to). */
void tt_remove_tree(const char *dir);

/* How many entries of dir have names starting with prefix (leftover "NAME.tmp.XXXXXX" files). */
int tt_count_prefixed(const char *dir, const char *prefix);

#endif
