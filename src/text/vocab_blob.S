/* CLIP's merges file (bpe_simple_vocab_16e6.txt.gz, MIT, see LICENSE-CLIP-VOCAB.txt), embedded
 * as bcos_vocab_gz .. bcos_vocab_gz_end. The path is relative to the library's include/ folder,
 * which the compiler passes to the assembler as a search directory. */
    .section .rodata
    .balign 16
    .global bcos_vocab_gz
    .type bcos_vocab_gz, @object
bcos_vocab_gz:
    .incbin "../src/text/bpe_simple_vocab_16e6.txt.gz"
    .global bcos_vocab_gz_end
bcos_vocab_gz_end:
    .size bcos_vocab_gz, bcos_vocab_gz_end - bcos_vocab_gz
    .section .note.GNU-stack, "", @progbits
