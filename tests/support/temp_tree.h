/* Temporary folders for tests: removing a whole tree the test made under /tmp. */
#ifndef BCOS_TEST_TEMP_TREE_H
#define BCOS_TEST_TEMP_TREE_H

/* Removes dir and everything below it (symbolic links themselves, not what they point to). */
void tt_remove_tree(const char *dir);

#endif
