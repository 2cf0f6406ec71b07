/* Zero-shot classification as CLIP_benchmark does it: a classifier from class names and prompt
 * templates, logits against image embeddings, and the metrics (top-1, top-5, mean per-class recall). */
#ifndef BCOS_EVAL_H
#define BCOS_EVAL_H

#include "bcos/clip.h"
#include "bcos/tokenizer.h"

/* The default template when none is given: OpenAI's "a photo of a {c}." */
extern const char *const BCOS_DEFAULT_TEMPLATE;

/* text with every `mark` replaced by value (heap). */
char *bcos_replace_all(const char *text, const char *mark, const char *value);
/* "a photo of a {c}." with {c} -> name. Returns a heap string, or NULL if template has no "{c}". */
char *bcos_fill_template(const char *template_text, const char *name);

/* classifier[K,E]: for each class, every template's text embedding L2-normalised, averaged and
 * renormalised. Returns 0, or -1 with err naming the bad template. */
int bcos_zeroshot_classifier(float *classifier, const bcos_clip *m, const bcos_tokenizer *tok,
                             const char *const *classes, int K, const char *const *templates, int NT, char *err,
                             size_t errlen);
/* logits[B,K] = 100 * normalise(image_emb[b]) . classifier[k] */
void bcos_zeroshot_logits(float *logits, const float *image_emb, const float *classifier, int B, int K, int E);
/* L2-normalise rows of x[N,D] in place (rows of zero norm stay zero). */
void bcos_l2_normalize_rows(float *x, int N, int D);
/* The indices of the k largest values of x[n], in descending order. */
void bcos_topk(int *out, const float *x, int n, int k);

#endif
