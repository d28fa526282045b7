"""The font families the writer benchmark draws letters with: none of them is used in training.

Kept apart from writer_render.py so that a test can check the two lists stay apart without the
benchmark's own dependencies (scikit-image, scikit-learn).
"""

# Families never used by train/negatives.py (which uses the fonts in train/fonts, STIX, Computer Modern
# and Pillow's bundled Aileron); installed on Debian by `apt-get install` of the packages in docs/benchmarks.md.
FONT_FILES = {
    "DkgHandwriting (handwriting)": "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "Breip (handwriting)": "/usr/share/fonts/truetype/breip/Breip.ttf",
    "femkeklaver (handwriting)": "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "Because We Learn (handwriting)": "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf",
    "Because We Create (handwriting)": "/usr/share/fonts/opentype/bwht/BecauseWeCreate-Regular.otf",
    "Purisa (handwriting)": "/usr/share/fonts/truetype/tlwg/Purisa.ttf",
    "Rufscript (handwriting)": "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "Z003 (chancery script)": "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
    "Liberation Sans": "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "Liberation Serif": "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    "FreeMono": "/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf",
    "Nimbus Sans": "/usr/share/fonts/opentype/urw-base35/NimbusSans-Italic.otf",
    "URW Bookman": "/usr/share/fonts/opentype/urw-base35/URWBookman-Light.otf",
    "URW Gothic": "/usr/share/fonts/opentype/urw-base35/URWGothic-Book.otf",
    "C059": "/usr/share/fonts/opentype/urw-base35/C059-Roman.otf",
}
FONT_PACKAGES = (
    "fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-bwht fonts-tlwg-purisa-ttf fonts-rufscript "
    "fonts-urw-base35 fonts-liberation fonts-freefont-ttf"
)
