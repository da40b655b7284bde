# The README's tour of the source lists every file of core/, and only files that exist:
# a new file without a row, or a row for a file that is gone, fails here.
use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $root = abs_path(dirname(__FILE__) . '/../..');
open my $fh, '<', "$root/README.md" or die "README.md: $!";
my $readme = do { local $/; <$fh> };
my ($tour) = $readme =~ /^## A tour of the source, in reading order\n(.*?)^## /ms;
ok(defined $tour, 'the README has the tour section') or BAIL_OUT('no tour');

my %listed = map { $_ => 1 } $tour =~ /`(core\/[^`*]+\.[ch])`/g;
my %present = map { s{^\Q$root\E/}{}r => 1 } glob("$root/core/*/*.[ch]");
ok(scalar keys %present > 50, 'core/ has its files (' . scalar(keys %present) . ')');

my @missing = sort grep { !$listed{$_} } keys %present;
my @gone = sort grep { !$present{$_} } keys %listed;
is_deeply(\@missing, [], 'every file of core/ has a row in the tour')
    or diag("not in the README's tour: @missing");
is_deeply(\@gone, [], 'every file the tour names exists') or diag("gone: @gone");

# rows name the layer of the folder they list
my $bad = 0;
while ($tour =~ /^\| (\w+) \| ([^|]*) \|/mg) {
    my ($layer, $files) = ($1, $2);
    for my $f ($files =~ /`core\/(\w+)\//g) {
        $bad++, diag("a row of layer $layer lists a file of core/$f/") if $f ne $layer;
    }
}
is($bad, 0, 'each row sits in its folder\'s layer');
done_testing();
